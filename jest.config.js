/** Unit specs live beside the code; e2e and integration tests under test/. */
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', {}] },
};

/**
 * The specs that run again on PostgreSQL when QUEUECTL_TEST_DATABASE_URL names a database: the
 * repositories, the REST API, the CLI, the workers, and acknowledged enqueues surviving a SIGKILL.
 * Those that check SQLite itself (its query plans, VACUUM backups, the service lock, the output
 * migration) and those that never touch the database (browser, runner, proxy) run on SQLite only;
 * the PostgreSQL counterparts of the first kind are their own specs (*.pg-spec.ts), run in this
 * project only.
 */
const POSTGRES_SPECS = [
  'jobs-repository',
  'jobs-insert',
  'search',
  'api',
  'api-errors',
  'metrics',
  'retention',
  'output-bytes',
  'workers-protocol',
  'claim-handoff',
  'workers-jobs',
  'workers',
  'workers-crash',
  'workers-shutdown',
  'cli',
  'dashboard',
  'queues',
  'queue-plans',
  'queues-claim',
  'flows',
  // Schedules and idempotent enqueue.
  'schedules',
  'schedules-cli',
  'idempotency',
  'workflows-together',
  'durability',
];

const projects = [
  { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/cli/**/*.spec.ts', '<rootDir>/chaos/**/*.spec.ts'] },
  { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
];
if (process.env.QUEUECTL_TEST_DATABASE_URL) {
  projects.push({
    ...common,
    displayName: 'e2e-pg',
    setupFiles: ['<rootDir>/test/support/postgres-dialect.ts'],
    testMatch: [...POSTGRES_SPECS.map((name) => `<rootDir>/test/${name}.e2e-spec.ts`), '<rootDir>/test/**/*.pg-spec.ts'],
  });
}

module.exports = {
  testTimeout: 60000,
  // A test run leaves the work tree as it found it: no rewritten docs, no files left behind.
  globalSetup: '<rootDir>/test/support/work-tree-setup.js',
  globalTeardown: '<rootDir>/test/support/work-tree-teardown.js',
  projects,
};
