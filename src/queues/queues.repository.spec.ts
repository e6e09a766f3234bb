import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { Sql, SqliteDatabase } from '../database/sql';
import { QueuesRepository } from './queues.repository';

/**
 * The settings a SQLite service keeps between units of work (QueuesRepository.settings): what a
 * claim reads is always what is committed, or what its own transaction wrote, never a change
 * that was rolled back.
 */
describe('QueuesRepository settings on a real SQLite file', () => {
  let dir: string;
  let dataSource: DataSource;
  let db: SqliteDatabase;
  let queues: QueuesRepository;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'queuectl-queues-'));
    dataSource = new DataSource({ type: 'sqlite', database: join(dir, 'test.db'), enableWAL: true });
    await dataSource.initialize();
    db = new SqliteDatabase(dataSource);
    await db.run(`CREATE TABLE queues (name varchar(128) PRIMARY KEY NOT NULL, paused integer NOT NULL DEFAULT 0,
      concurrency integer NOT NULL DEFAULT 0, max_retries integer, backoff_base real, backoff_max integer, job_timeout integer,
      created_at bigint NOT NULL, updated_at bigint NOT NULL)`);
    queues = new QueuesRepository(db);
  });

  afterEach(async () => {
    await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const paused = async (sql?: Sql) => (await queues.settings(sql)).get('q')?.paused;

  /** `db`, counting the statements that go through it. */
  function counting(): { sql: Sql; count: () => number } {
    let n = 0;
    return {
      sql: { rows: (q, p) => (n++, db.rows(q, p)), run: (q, p) => (n++, db.run(q, p)), announce: () => undefined },
      count: () => n,
    };
  }

  it('answers from the kept copy until an upsert, then shows the committed change', async () => {
    const c = counting();
    expect(await paused(c.sql)).toBeUndefined();
    expect(await paused(c.sql)).toBeUndefined();
    expect(c.count()).toBe(1);
    await db.write((sql) => queues.upsert(sql, 'q', { paused: 1 }, 1));
    expect(await paused(c.sql)).toBe(1);
    expect(await paused(c.sql)).toBe(1);
    expect(c.count()).toBe(2);
  });

  it('a unit reads the change its own transaction made, before it commits', async () => {
    const [, seen] = await Promise.all([
      db.write((sql) => queues.upsert(sql, 'q', { concurrency: 3 }, 1)),
      // Submitted together: the second unit shares the first one's transaction.
      db.write(async (sql) => (await queues.settings(sql)).get('q')?.concurrency),
    ]);
    expect(seen).toBe(3);
  });

  it('never keeps a change that was rolled back, even one read while its transaction was open', async () => {
    await db.write((sql) => queues.upsert(sql, 'q', { paused: 0 }, 1));
    expect(await paused()).toBe(0);
    const undone = db.write(async (sql) => {
      await queues.upsert(sql, 'q', { paused: 1 }, 2);
      // The unit reads its own change; a read outside it sees what is committed.
      expect(await paused(sql)).toBe(1);
      expect(await paused()).toBe(0);
      throw new Error('undone');
    });
    await expect(undone).rejects.toThrow('undone');
    expect(await paused()).toBe(0);
    expect((await db.rows<{ paused: number }>("SELECT paused FROM queues WHERE name = 'q'"))[0].paused).toBe(0);
  });

  it('a read that started before an upsert is not kept past it, even once that upsert has committed', async () => {
    // The read's SELECT runs, then its answer is held until the upsert's transaction has ended.
    let selected!: () => void;
    const hasSelected = new Promise<void>((resolve) => (selected = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow: Sql = {
      rows: async (q, p) => {
        const rows = await db.rows(q, p);
        selected();
        await held;
        return rows as never;
      },
      run: (q, p) => db.run(q, p),
      announce: () => undefined,
    };
    const reading = queues.settings(slow);
    await hasSelected;
    await db.write((sql) => queues.upsert(sql, 'q', { paused: 1 }, 1));
    release();
    expect((await reading).get('q')).toBeUndefined();
    expect(await paused()).toBe(1);
  });
});
