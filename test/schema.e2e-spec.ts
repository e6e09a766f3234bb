import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { dataSourceOptions, openDataSource } from '../src/database/data-source';
import { DatabaseTarget } from '../src/env/env';
import { TEST_DATABASE_URL, dropDatabaseOf, schemaOf } from './support/database';
import { removeHome, tempHome } from './support/harness';

/**
 * The entities are the schema: an empty database of each dialect, migrated, is what TypeORM
 * would build from the entities (its schema builder finds nothing to change). PostgreSQL runs
 * when QUEUECTL_TEST_DATABASE_URL names a database.
 */
const targets: Array<[string, (home: string) => DatabaseTarget]> = [['sqlite', (home) => ({ dialect: 'sqlite', path: join(home, 'queue.db') })]];
if (TEST_DATABASE_URL) targets.push(['postgres', (home) => ({ dialect: 'postgres', url: TEST_DATABASE_URL!, schema: schemaOf(home) })]);

describe.each(targets)('schema on %s', (dialect, targetOf) => {
  let home: string;
  let ds: DataSource | undefined;
  beforeEach(() => {
    home = tempHome();
  });
  afterEach(async () => {
    await ds?.destroy();
    ds = undefined;
    if (dialect === 'postgres') process.env.QUEUECTL_TEST_DIALECT = 'postgres';
    try {
      dropDatabaseOf(home);
    } finally {
      delete process.env.QUEUECTL_TEST_DIALECT;
      removeHome(home);
    }
  });

  it('migrates an empty database to exactly what the entities describe', async () => {
    ds = await openDataSource(dataSourceOptions(targetOf(home)));
    const tables = ds.entityMetadatas.map((m) => m.tableName).sort();
    const all = ['idempotency_keys', 'job_attempts', 'job_counts', 'job_dependencies', 'job_output', 'jobs', 'queues', 'report_answers', 'schedules', 'settings', 'workers'];
    expect(tables).toEqual(dialect === 'sqlite' ? [...all, 'run_sequence'].sort() : all);
    // Every table the migrations made has its entity.
    const made = await ds.query(
      dialect === 'sqlite'
        ? `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('migrations', 'sqlite_sequence')`
        : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'migrations'`,
    );
    expect(made.map((r: { name: string }) => r.name).sort()).toEqual(tables);
    const { upQueries } = await ds.driver.createSchemaBuilder().log();
    expect(upQueries.map((q) => q.query)).toEqual([]);
  });

  // SQLite has one owner (the service lock); PostgreSQL replicas start together.
  if (dialect === 'postgres') {
  it('runs every migration once, however many replicas open the database together', async () => {
    const opened = await Promise.all([0, 1, 2].map(() => openDataSource(dataSourceOptions(targetOf(home)))));
    try {
      const [{ n }] = await opened[0].query('SELECT COUNT(*) AS n FROM migrations');
      expect(Number(n)).toBe(opened[0].migrations.length);
    } finally {
      for (const d of opened) await d.destroy();
    }
  });
  }
});
