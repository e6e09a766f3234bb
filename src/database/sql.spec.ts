import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sqlite3 from 'sqlite3';
import { DataSource } from 'typeorm';
import { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver';
import { StorageUnavailable } from '../common/domain-errors';
import { walCommits } from '../../test/support/wal';
import { SqlDatabase, SqliteDatabase } from './sql';

/** A second, independent connection: it sees only what is committed. */
function otherConnection(file: string): Promise<{ ids(): Promise<string[]>; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const conn = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      resolve({
        ids: () => new Promise((res, rej) => conn.all('SELECT id FROM items ORDER BY id', [], (e, rows) => (e ? rej(e) : res((rows as Array<{ id: string }>).map((r) => r.id))))),
        close: () => new Promise((res) => conn.close(() => res())),
      });
    });
  });
}

const insert = (id: string) => (sql: { run(q: string, p?: unknown[]): Promise<number> }) => sql.run('INSERT INTO items (id) VALUES (?)', [id]);

describe('SqlDatabase on a real SQLite file', () => {
  let dir: string;
  let file: string;
  let dataSource: DataSource;
  let db: SqlDatabase;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'queuectl-sql-'));
    file = join(dir, 'test.db');
    dataSource = new DataSource({ type: 'sqlite', database: file, enableWAL: true });
    await dataSource.initialize();
    db = new SqliteDatabase(dataSource);
    await db.run('CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL DEFAULT 0)');
    // No checkpoint during a test, so the log holds every commit the test made.
    await db.rows('PRAGMA wal_autocheckpoint = 0');
  });

  afterEach(async () => {
    await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const ids = async () => (await db.rows<{ id: string }>('SELECT id FROM items ORDER BY id')).map((r) => r.id);

  it('counts changed rows with run, and returns the rows of a write with RETURNING', async () => {
    expect(await db.run("INSERT INTO items (id) VALUES ('a'), ('b'), ('c')")).toBe(3);
    expect(await db.run("UPDATE items SET n = 5 WHERE id <> 'b'")).toBe(2);
    expect(await db.rows("UPDATE items SET n = n + 1 WHERE id = 'c' RETURNING id, n")).toEqual([{ id: 'c', n: 6 }]);
    expect(await db.run("DELETE FROM items WHERE id = 'zzz'")).toBe(0);
  });

  it('resolves a write only once it is committed: before that, no other connection sees it', async () => {
    const other = await otherConnection(file);
    try {
      let seenDuringUnit: string[] = ['not read'];
      await db.write(async (sql) => {
        await insert('a')(sql);
        seenDuringUnit = await other.ids();
      });
      expect(seenDuringUnit).toEqual([]);
      expect(await other.ids()).toEqual(['a']);
    } finally {
      await other.close();
    }
  });

  it('reads outside a unit of work see only what is committed, and every commit once it resolves', async () => {
    let seenDuringUnit: string[] = ['not read'];
    await db.write(async (sql) => {
      await insert('a')(sql);
      // The unit itself reads its own insert; a read of the service's does not.
      expect((await sql.rows<{ id: string }>('SELECT id FROM items')).map((r) => r.id)).toEqual(['a']);
      seenDuringUnit = await ids();
    });
    expect(seenDuringUnit).toEqual([]);
    expect(await ids()).toEqual(['a']);
    // A unit that failed leaves nothing for a read to see, before or after.
    const failing = db.write(async (sql) => {
      await insert('b')(sql);
      seenDuringUnit = await ids();
      throw new Error('undone');
    });
    await expect(failing).rejects.toThrow('undone');
    expect(seenDuringUnit).toEqual(['a']);
    expect(await ids()).toEqual(['a']);
  });

  it('commits writes awaited one after another one by one', async () => {
    const before = walCommits(file);
    for (let i = 0; i < 5; i++) await db.write(insert(`seq-${i}`));
    expect(walCommits(file) - before).toBe(5);
  });

  it('lets many concurrent writes share a few transactions', async () => {
    const before = walCommits(file);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => db.write(insert(`c-${String(i).padStart(3, '0')}`))));
    expect(results).toEqual(Array(200).fill(1));
    expect(walCommits(file) - before).toBeLessThanOrEqual(3);
    expect(await ids()).toHaveLength(200);
  });

  it('rolls back a failing unit alone while the others of its transaction commit', async () => {
    await db.write(insert('taken'));
    const before = walCommits(file);
    class Refused extends Error {}
    const refused = new Refused('no');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => {
        if (i === 20) {
          // Two rows in, then a duplicate: both of its rows must go too.
          return db.write(async (sql) => {
            await insert('u20-a')(sql);
            await insert('u20-b')(sql);
            await insert('taken')(sql);
          });
        }
        if (i === 30) {
          return db.write(async (sql) => {
            await insert('u30')(sql);
            throw refused;
          });
        }
        return db.write(insert(`u${i}`));
      }),
    );
    expect(outcomes[20]).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/UNIQUE/) }) });
    expect(outcomes[30]).toEqual({ status: 'rejected', reason: refused });
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(48);
    expect(walCommits(file) - before).toBeLessThanOrEqual(3);
    const stored = await ids();
    expect(stored).toHaveLength(49);
    expect(stored).not.toEqual(expect.arrayContaining(['u20-a']));
    expect(stored).not.toContain('u20-b');
    expect(stored).not.toContain('u30');
  });

  it('tells what a unit announced only after its commit, and nothing of a unit rolled back', async () => {
    const other = await otherConnection(file);
    try {
      // What each announcement's listener saw committed when it ran.
      const heard: Array<[string, string[]]> = [];
      const announcing = (id: string, fail = false) =>
        db.write(async (sql) => {
          await insert(id)(sql);
          sql.announce('job', id, () => void other.ids().then((seen) => heard.push([id, seen])));
          if (fail) throw new Error(`${id} refused`);
        });
      const outcomes = await Promise.allSettled([announcing('a'), announcing('b', true), announcing('c')]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      // A unit alone that fails takes its whole transaction: nothing of it is told either.
      await expect(announcing('d', true)).rejects.toThrow('d refused');
      await new Promise((r) => setTimeout(r, 50));
      expect(heard.map(([id]) => id).sort()).toEqual(['a', 'c']);
      for (const [id, seen] of heard) expect(seen).toContain(id);
    } finally {
      await other.close();
    }
  });

  it('undoes every write of a failing unit that had its transaction to itself', async () => {
    await db.write(insert('taken'));
    const before = walCommits(file);
    class Refused extends Error {}
    await expect(
      db.write(async (sql) => {
        await insert('alone-a')(sql);
        throw new Refused('no');
      }),
    ).rejects.toBeInstanceOf(Refused);
    await expect(
      db.write(async (sql) => {
        await insert('alone-b')(sql);
        await insert('taken')(sql);
      }),
    ).rejects.toThrow(/UNIQUE/);
    expect(walCommits(file) - before).toBe(0);
    // The connection is out of the failed transactions: the next write commits on its own.
    await db.write(insert('next'));
    expect(walCommits(file) - before).toBe(1);
    expect(await ids()).toEqual(['next', 'taken']);
  });

  describe('the transaction opened ahead', () => {
    /**
     * Shows the test every statement run through the writer's exec (BEGIN, SAVEPOINT, COMMIT and
     * ROLLBACK go through it), and fails one where `fault` returns an error, as SQLite reports one.
     */
    function tapExec(fault: (sql: string) => Error | undefined): void {
      const handle = (dataSource.driver as AbstractSqliteDriver).databaseConnection as sqlite3.Database;
      const exec = handle.exec;
      handle.exec = function (this: sqlite3.Database, sql: string, callback?: (err: Error | null) => void) {
        const failure = fault(sql);
        if (failure === undefined) return exec.call(this, sql, callback);
        setImmediate(() => callback?.(failure));
        return this;
      } as sqlite3.Database['exec'];
    }
    const turn = () => new Promise((r) => setImmediate(r));

    it('is opened with each COMMIT, in its trip, and the next write goes in it', async () => {
      const statements: string[] = [];
      tapExec((sql) => void statements.push(sql));
      const before = walCommits(file);
      await db.write(insert('a'));
      await db.write(insert('b'));
      // The first write opens its own transaction; each COMMIT opens the next one.
      expect(statements).toEqual(['BEGIN IMMEDIATE', 'COMMIT; BEGIN DEFERRED', 'COMMIT; BEGIN DEFERRED']);
      expect(walCommits(file) - before).toBe(2);
      const other = await otherConnection(file);
      try {
        expect(await other.ids()).toEqual(['a', 'b']);
      } finally {
        await other.close();
      }
    });

    it('refuses the writes of a COMMIT that failed, and the next write commits in one opened once the queue is empty', async () => {
      const statements: string[] = [];
      tapExec((sql) => {
        statements.push(sql);
        return sql.startsWith('COMMIT') && statements.filter((s) => s.startsWith('COMMIT')).length === 2 ? new Error('SQLITE_IOERR: disk I/O error') : undefined;
      });
      await db.write(insert('a'));
      await expect(db.write(insert('b'))).rejects.toBeInstanceOf(StorageUnavailable);
      while (statements.length < 5) await turn();
      const before = walCommits(file);
      await expect(db.write(insert('c'))).resolves.toBe(1);
      expect(statements).toEqual(['BEGIN IMMEDIATE', 'COMMIT; BEGIN DEFERRED', 'COMMIT; BEGIN DEFERRED', 'ROLLBACK', 'BEGIN DEFERRED', 'COMMIT; BEGIN DEFERRED']);
      expect(walCommits(file) - before).toBe(1);
      expect(await ids()).toEqual(['a', 'c']);
    });

    it('writes on in a transaction of its own when the one opened once the queue emptied could not begin', async () => {
      const statements: string[] = [];
      tapExec((sql) => {
        statements.push(sql);
        // The second COMMIT fails; the BEGIN sent alone after its ROLLBACK fails too.
        if (sql.startsWith('COMMIT') && statements.filter((s) => s.startsWith('COMMIT')).length === 2) return new Error('SQLITE_IOERR: disk I/O error');
        return sql === 'BEGIN DEFERRED' ? new Error('SQLITE_BUSY: database is locked') : undefined;
      });
      await db.write(insert('a'));
      await expect(db.write(insert('b'))).rejects.toBeInstanceOf(StorageUnavailable);
      while (statements.length < 5) await turn();
      const before = walCommits(file);
      await expect(db.write(insert('c'))).resolves.toBe(1);
      expect(statements).toEqual(['BEGIN IMMEDIATE', 'COMMIT; BEGIN DEFERRED', 'COMMIT; BEGIN DEFERRED', 'ROLLBACK', 'BEGIN DEFERRED', 'BEGIN IMMEDIATE', 'COMMIT; BEGIN DEFERRED']);
      expect(walCommits(file) - before).toBe(1);
      expect(await ids()).toEqual(['a', 'c']);
    });

    it('is rolled back when a batch cannot set its first savepoint in it, and the next write commits', async () => {
      const statements: string[] = [];
      let batch: Promise<PromiseSettledResult<number>[]> | undefined;
      tapExec((sql) => {
        statements.push(sql);
        // While the first COMMIT (and the BEGIN opened ahead with it) is on its way, two writes
        // arrive: they go as one batch, in that transaction, each behind a savepoint (and no
        // BEGIN of their own).
        if (sql.startsWith('COMMIT') && batch === undefined) {
          batch = Promise.allSettled([db.write(insert('b')), db.write(insert('c'))]);
        }
        return sql === 'SAVEPOINT unit' ? new Error('SQLITE_IOERR: disk I/O error') : undefined;
      });
      await db.write(insert('a'));
      while (batch === undefined) await turn();
      const outcomes = await batch;
      for (const o of outcomes) expect(o).toMatchObject({ status: 'rejected', reason: expect.any(StorageUnavailable) });
      expect(statements.slice(statements.indexOf('SAVEPOINT unit'))).toContain('ROLLBACK');
      const before = walCommits(file);
      await expect(db.write(insert('d'))).resolves.toBe(1);
      expect(walCommits(file) - before).toBe(1);
      expect(await ids()).toEqual(['a', 'd']);
    });
  });

  describe('kept statements', () => {
    it('binds each call’s own values, also after a call that failed', async () => {
      const put = (id: string, n: number) => db.write((sql) => sql.run('INSERT INTO items (id, n) VALUES (?, ?)', [id, n]));
      await put('a', 1);
      await expect(put('a', 2)).rejects.toThrow(/UNIQUE/);
      await put('b', 3);
      const one = (id: string) => db.rows<{ n: number }>('SELECT n FROM items WHERE id = ?', [id]);
      expect(await Promise.all([one('a'), one('b'), one('zzz'), one('b')])).toEqual([[{ n: 1 }], [{ n: 3 }], [], [{ n: 3 }]]);
    });

    it('answers a statement that does not compile with its error, every time', async () => {
      for (let i = 0; i < 2; i++) await expect(db.rows('SELECT nope FROM items WHERE id = ?', ['a'])).rejects.toThrow(/no such column: nope/);
      expect(await db.rows('SELECT COUNT(*) AS n FROM items WHERE id <> ?', [''])).toEqual([{ n: 0 }]);
    });

    it('keeps working past the number it keeps, and lets the connection close with statements kept', async () => {
      for (let i = 0; i < 300; i++) await db.write((sql) => sql.run(`INSERT INTO items (id, n) VALUES (?, ${i})`, [`k${i}`]));
      expect(await db.rows(`SELECT SUM(n) AS total FROM items WHERE id LIKE ?`, ['k%'])).toEqual([{ total: (299 * 300) / 2 }]);
      // afterEach destroys the DataSource too; here its outcome is checked.
      await expect(dataSource.destroy()).resolves.toBeUndefined();
      dataSource = new DataSource({ type: 'sqlite', database: file, enableWAL: true });
      await dataSource.initialize();
      expect(await dataSource.query('SELECT COUNT(*) AS n FROM items')).toEqual([{ n: 300 }]);
    });
  });

  it('runs exclusive work between transactions, in the order it was asked for', async () => {
    const copy = join(dir, 'copy.db');
    await Promise.all([
      db.write(insert('before-1')),
      db.write(insert('before-2')),
      // VACUUM fails inside a transaction, so this also shows none is open.
      db.exclusive((sql) => sql.run('VACUUM INTO ?', [copy])),
      db.write(insert('after')),
    ]);
    const copied = await otherConnection(copy);
    try {
      expect(await copied.ids()).toEqual(['before-1', 'before-2']);
    } finally {
      await copied.close();
    }
    expect(await ids()).toEqual(['after', 'before-1', 'before-2']);
  });

  it('fails a whole transaction cleanly when the disk is full, and recovers when space returns', async () => {
    await db.write(insert('old'));
    const [{ page_count: pages }] = await db.rows<{ page_count: number }>('PRAGMA page_count');
    // A database that cannot grow is SQLite's own way to hit "disk full" on purpose.
    await db.rows(`PRAGMA max_page_count = ${pages + 2}`);
    const outcomes = await Promise.allSettled([
      db.write(insert('first')),
      db.write(insert('small-1')),
      db.write((sql) => sql.run('INSERT INTO items (id) VALUES (zeroblob(400000))')),
      db.write(insert('small-2')),
    ]);
    // The first write went alone, before the others queued.
    expect(outcomes[0].status).toBe('fulfilled');
    for (const o of outcomes.slice(1)) {
      expect(o).toMatchObject({ status: 'rejected', reason: expect.any(StorageUnavailable) });
    }
    // Nothing answered with an error is stored: not even the unit that ran after the failure.
    expect(await ids()).toEqual(['first', 'old']);

    await db.rows('PRAGMA max_page_count = 1073741823');
    await db.write(insert('later'));
    expect(await ids()).toEqual(['first', 'later', 'old']);
  });
});
