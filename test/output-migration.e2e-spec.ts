import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../src/database/database.module';
import { removeHome, tempHome } from './support/harness';

/** The move from one text column to chunks of bytes keeps the output a queue already holds. */
describe('output chunks migration', () => {
  let home: string;
  beforeEach(() => (home = tempHome('queuectl-migration-')));
  afterEach(() => removeHome(home));

  const open = async (migrations: unknown[]) => {
    const ds = new DataSource({ type: 'sqlite', database: join(home, 'queue.db'), migrations: migrations as never, migrationsTransactionMode: 'each' });
    await ds.initialize();
    return ds;
  };

  it('turns each run’s stored text into its first chunk, all of it, and counts bytes; deleting a job deletes its chunks', async () => {
    const before = await open(MIGRATIONS.slice(0, 2));
    await before.runMigrations();
    await before.query(`INSERT INTO jobs (id, seq, command, state, max_retries, due_at, created_at, updated_at) VALUES ('old', 1, 'true', 'completed', 0, 0, 0, 0)`);
    // What the old service stored: text (NUL included, SQLite keeps it; its functions stopped there),
    // with output_bytes counting characters.
    await before.query(`INSERT INTO job_attempts (job_id, run, attempt, started_at, output, output_bytes) VALUES
      ('old', 1, 1, 0, CAST(X'6265666f726500616674657220f09f9a800a' AS TEXT), 15), ('old', 2, 2, 0, '', 0)`);
    await before.destroy();

    const after = await open(MIGRATIONS);
    await after.runMigrations();
    const chunks = await after.query(`SELECT job_id, run, byte_offset, data FROM job_output`);
    expect(chunks).toEqual([{ job_id: 'old', run: 1, byte_offset: 0, data: Buffer.from('before\0after 🚀\n') }]);
    expect(await after.query(`SELECT run, output_bytes FROM job_attempts ORDER BY run`)).toEqual([
      { run: 1, output_bytes: Buffer.byteLength('before\0after 🚀\n') },
      { run: 2, output_bytes: 0 },
    ]);
    // Deleting the job takes its output with it.
    await after.query(`DELETE FROM jobs`);
    expect(await after.query(`SELECT COUNT(*) AS n FROM job_output`)).toEqual([{ n: 0 }]);
    await after.destroy();
  });

  it('undoing it puts each run’s text back', async () => {
    // The migrations up to this one (later ones would be undone first).
    const upToOutputChunks = MIGRATIONS.filter((m) => Number(/\d{13}$/.exec(m.name)![0]) <= 1733100000000);
    const ds = await open(upToOutputChunks);
    await ds.runMigrations();
    await ds.query(`INSERT INTO jobs (id, seq, command, state, max_retries, due_at, created_at, updated_at) VALUES ('new', 1, 'true', 'completed', 0, 0, 0, 0)`);
    await ds.query(`INSERT INTO job_attempts (job_id, run, attempt, started_at, output_bytes) VALUES ('new', 1, 1, 0, 9)`);
    await ds.query(`INSERT INTO job_output (job_id, run, byte_offset, data) VALUES ('new', 1, 0, X'6f6e650a'), ('new', 1, 4, X'74776f0a00')`);
    await ds.undoLastMigration();
    expect(await ds.query(`SELECT CAST(output AS BLOB) AS output FROM job_attempts`)).toEqual([{ output: Buffer.from('one\ntwo\n\0') }]);
    await ds.destroy();
  });
});
