/** Unit specs live beside the code; e2e and integration tests under test/. */
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', {}] },
};

module.exports = {
  testTimeout: 60000,
  // A test run leaves the work tree as it found it: no rewritten docs, no files left behind.
  globalSetup: '<rootDir>/test/support/work-tree-setup.js',
  globalTeardown: '<rootDir>/test/support/work-tree-teardown.js',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/cli/**/*.spec.ts', '<rootDir>/chaos/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
