import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { DuplicateJob } from '../src/common/domain-errors';
import { dataSourceOptions, openDataSource } from '../src/database/data-source';
import { NAMED_STATEMENTS, PostgresDatabase, placeholders, statementName } from '../src/database/postgres-sql';
import { Sql } from '../src/database/sql';
import { TEST_DATABASE_URL, dropDatabaseOf, schemaOf, sentToPostgres } from './support/database';
import { removeHome, tempHome } from './support/harness';

/**
 * The group commit on PostgreSQL, against a real server: units share a transaction and fail
 * alone; a batch PostgreSQL aborts for a deadlock with another replica's batch runs again whole;
 * a duplicate job id is the same error as on SQLite.
 */
describe('PostgresDatabase', () => {
  let home: string;
  const sources: DataSource[] = [];
  const replica = async (prepared = true) => {
    const ds = await openDataSource(dataSourceOptions({ dialect: 'postgres', url: TEST_DATABASE_URL!, schema: schemaOf(home) }));
    sources.push(ds);
    return new PostgresDatabase(ds, prepared);
  };
  let db: PostgresDatabase;

  beforeEach(async () => {
    home = tempHome();
    db = await replica();
    await db.run('CREATE TABLE items (id text PRIMARY KEY, n integer NOT NULL DEFAULT 0)');
    await db.run(`INSERT INTO items (id) VALUES ('a'), ('b')`);
  });
  afterEach(async () => {
    for (const ds of sources.splice(0)) await ds.destroy();
    dropDatabaseOf(home);
    removeHome(home);
  });

  const ids = async () => (await db.rows<{ id: string }>('SELECT id FROM items ORDER BY id')).map((r) => r.id);

  it('answers each unit of a shared transaction alone: a failing unit is undone, the others commit', async () => {
    const results = await Promise.allSettled([
      db.write((sql) => sql.run('INSERT INTO items (id) VALUES (?)', ['c'])),
      db.write(async (sql) => {
        await sql.run('INSERT INTO items (id) VALUES (?)', ['half']);
        return sql.run('INSERT INTO items (id) VALUES (?)', ['a']);
      }),
      db.write((sql) => sql.run('INSERT INTO items (id) VALUES (?)', ['d'])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason.message)).toMatch(/duplicate key/);
    expect(await ids()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('runs a batch again whole when PostgreSQL aborts it for a deadlock with another replica', async () => {
    const other = await replica();
    let release!: () => void;
    const bothHoldOne = new Promise<void>((r) => (release = r));
    let holding = 0;
    const runs = { first: 0, second: 0 };
    // Each takes one row, waits until the other holds the other row, then asks for it.
    const crossing = (name: 'first' | 'second', order: [string, string]) => async (sql: Sql) => {
      runs[name] += 1;
      await sql.run('UPDATE items SET n = n + 1 WHERE id = ?', [order[0]]);
      if (++holding === 2) release();
      await bothHoldOne;
      await sql.run('UPDATE items SET n = n + 10 WHERE id = ?', [order[1]]);
      return name;
    };
    const answers = await Promise.all([db.write(crossing('first', ['a', 'b'])), other.write(crossing('second', ['b', 'a']))]);
    expect(answers).toEqual(['first', 'second']);
    // One of them was the deadlock's victim and ran twice; its first run left nothing behind.
    expect(runs.first + runs.second).toBe(3);
    expect(await db.rows('SELECT id, n FROM items ORDER BY id')).toEqual([
      { id: 'a', n: 11 },
      { id: 'b', n: 11 },
    ]);
  });

  it('sends what the units announce with their commit: heard by a listener once the rows are visible, never for a unit rolled back', async () => {
    const listener = new Client({ connectionString: TEST_DATABASE_URL });
    await listener.connect();
    try {
      // Each notification, and whether its row was committed when it arrived (read on the
      // listening connection itself, the moment the notification is handed over).
      const heard: Array<{ id: string; visible: boolean; backend: number }> = [];
      const reads: Array<Promise<void>> = [];
      listener.on('notification', (n) => {
        for (const [topic, id] of JSON.parse(n.payload ?? '{}').events ?? []) {
          if (topic !== 'job' || !String(id).startsWith(`${schemaOf(home)}/`)) continue;
          reads.push(
            listener
              .query(`SELECT count(*)::int AS n FROM ${schemaOf(home)}.items WHERE id = $1`, [id])
              .then((r) => void heard.push({ id, visible: r.rows[0].n === 1, backend: n.processId })),
          );
        }
      });
      await listener.query('LISTEN queuectl');
      const local: string[] = [];
      const backendOf = new Map<string, number>();
      const announcing = (name: string, fail = false) =>
        db.write(async (sql) => {
          const id = `${schemaOf(home)}/${name}`;
          await sql.run('INSERT INTO items (id) VALUES (?)', [id]);
          const [{ pid }] = await sql.rows<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          backendOf.set(name, pid);
          sql.announce('job', id, () => local.push(name));
          if (fail) throw new Error(`${name} refused`);
        });
      const outcomes = await Promise.allSettled([announcing('a'), announcing('b', true), announcing('c')]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      await expect(announcing('d', true)).rejects.toThrow('d refused');
      for (let i = 0; i < 100 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      await Promise.all(reads);
      expect(heard.map((h) => h.id.split('/')[1]).sort()).toEqual(['a', 'c']);
      expect(heard.every((h) => h.visible)).toBe(true);
      // Sent by the connection that wrote the row, in its transaction.
      for (const h of heard) expect(h.backend).toBe(backendOf.get(h.id.split('/')[1]));
      expect(local.sort()).toEqual(['a', 'c']);
    } finally {
      await listener.end();
    }
  });

  it('answers a duplicate job id as DuplicateJob, as on SQLite', async () => {
    const insert = `INSERT INTO jobs (id, command, state, max_retries, due_at, created_at, updated_at) VALUES (?, 'true', 'pending', 3, 0, 0, 0)`;
    await db.write((sql) => sql.run(insert, ['taken']));
    const refused = await db.write((sql) => sql.run(insert, ['taken'])).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DuplicateJob);
    expect((refused as DuplicateJob).message).toBe('a job with id "taken" already exists');
  });

  describe('autocommit: one statement as a unit of its own', () => {
    /** Listens on the replicas' channel; `heard` gets each `job` event of this test's schema, with whether its row was visible then. */
    const listening = async () => {
      const listener = new Client({ connectionString: TEST_DATABASE_URL });
      await listener.connect();
      const heard: Array<{ id: string; visible: boolean }> = [];
      const reads: Array<Promise<void>> = [];
      listener.on('notification', (n) => {
        for (const [topic, id] of JSON.parse(n.payload ?? '{}').events ?? []) {
          if (topic !== 'job' || !String(id).startsWith(`${schemaOf(home)}/`)) continue;
          reads.push(listener.query(`SELECT count(*)::int AS n FROM ${schemaOf(home)}.items WHERE id = $1`, [id]).then((r) => void heard.push({ id, visible: r.rows[0].n === 1 })));
        }
      });
      await listener.query('LISTEN queuectl');
      return { heard, settled: () => Promise.all(reads), end: () => listener.end() };
    };
    const insert = 'INSERT INTO items (id) VALUES (?) ON CONFLICT (id) DO NOTHING RETURNING id';

    it('commits the statement in one round trip, with what it announces: heard once its row is visible, and here once it answers', async () => {
      const listener = await listening();
      try {
        const id = `${schemaOf(home)}/alone`;
        const local: string[] = [];
        const { value, sent } = await sentToPostgres(() => db.autocommit<{ id: string }>(insert, [id], [{ topic: 'job', payload: id, local: () => local.push(id) }]));
        expect(value.map((r) => r.id)).toEqual([id]);
        expect(sent).toHaveLength(1);
        expect(sent[0]).toMatch(/^WITH unit AS \(INSERT INTO items .* RETURNING id\) SELECT unit\.\*, pg_notify\('queuectl', \$2::text\) AS told_0 FROM unit$/);
        expect(local).toEqual([id]);
        // Committed: another connection sees it at once, and a failing unit after it does not take it back.
        expect(await ids()).toContain(id);
        for (let i = 0; i < 100 && listener.heard.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
        await listener.settled();
        expect(listener.heard).toEqual([{ id, visible: true }]);
      } finally {
        await listener.end();
      }
    });

    it('announces nothing, here or to the other replicas, when the statement answers no row', async () => {
      const listener = await listening();
      try {
        const local: string[] = [];
        const said = [{ topic: 'job' as const, payload: `${schemaOf(home)}/a`, local: () => local.push('a') }];
        expect(await db.autocommit(insert, ['a'], said)).toEqual([]);
        // A write that announces after it, so the listener has surely heard anything sent before.
        const after = `${schemaOf(home)}/after`;
        await db.autocommit(insert, [after], [{ topic: 'job', payload: after }]);
        for (let i = 0; i < 100 && listener.heard.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
        await listener.settled();
        expect(listener.heard.map((h) => h.id)).toEqual([after]);
        expect(local).toEqual([]);
        expect((await ids()).sort()).toEqual(['a', 'b', after].sort());
      } finally {
        await listener.end();
      }
    });
  });

  describe('the BEGIN, sent with the first statement that has no parameters', () => {
    it('goes with a unit’s first statement when it has no parameters: one round trip fewer, the same transaction', async () => {
      const { value, sent } = await sentToPostgres(() =>
        db.write(async (sql) => {
          const [{ n }] = await sql.rows<{ n: number }>('SELECT count(*)::int AS n FROM items');
          await sql.run('INSERT INTO items (id) VALUES (?)', ['c']);
          return n;
        }),
      );
      expect(value).toBe(2);
      expect(sent).toEqual(['BEGIN; SELECT count(*)::int AS n FROM items', 'INSERT INTO items (id) VALUES ($1)', 'COMMIT']);
      expect(await ids()).toEqual(['a', 'b', 'c']);
      // Still a transaction: a unit that fails after its write leaves nothing behind.
      const failed = db.write(async (sql) => {
        await sql.rows('SELECT id FROM items');
        await sql.run('INSERT INTO items (id) VALUES (?)', ['undone']);
        throw new Error('the unit fails');
      });
      await expect(failed).rejects.toThrow('the unit fails');
      expect(await ids()).toEqual(['a', 'b', 'c']);
    });

    it('goes alone before a first statement with parameters, and with the COMMIT of a unit that sent none', async () => {
      const first = await sentToPostgres(() => db.write((sql) => sql.run('UPDATE items SET n = n + 1 WHERE id = ?', ['a'])));
      expect(first).toEqual({ value: 1, sent: ['BEGIN', 'UPDATE items SET n = n + 1 WHERE id = $1', 'COMMIT'] });
      const none = await sentToPostgres(() => db.write(async () => 'nothing sent'));
      expect(none).toEqual({ value: 'nothing sent', sent: ['BEGIN; COMMIT'] });
    });

    it('opens the first unit’s savepoint with it in a shared transaction: a failing unit is undone alone', async () => {
      const unit = (id: string, fail: boolean) => async (sql: Sql) => {
        const [{ n }] = await sql.rows<{ n: number }>('SELECT count(*)::int AS n FROM items');
        await sql.run('INSERT INTO items (id) VALUES (?)', [id]);
        if (fail) throw new Error(`${id} fails`);
        return n;
      };
      const { value: results, sent } = await sentToPostgres(() =>
        Promise.allSettled([db.write(unit('c', false)), db.write(unit('half', true)), db.write(unit('d', false)), db.write(unit('e', false))]),
      );
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect(await ids()).toEqual(['a', 'b', 'c', 'd', 'e']);
      // The first unit went alone; the others shared one transaction, opened with the second's read.
      expect(sent.filter((s) => s.startsWith('BEGIN'))).toEqual(['BEGIN; SELECT count(*)::int AS n FROM items', 'BEGIN; SAVEPOINT unit; SELECT count(*)::int AS n FROM items']);
    });
  });

  it('turns ? and ?N into $N outside quoted text', () => {
    expect(placeholders(`SELECT ?, '?', "a?", ?2, ? WHERE x = '?1'`)).toBe(`SELECT $1, '?', "a?", $2, $2 WHERE x = '?1'`);
  });

  describe('named statements', () => {
    const byId = 'SELECT id, n FROM items WHERE id = ?';
    /** The unit's connection: what it keeps prepared, and how it plans them. */
    const kept = (sql: Sql) => sql.rows<{ name: string; statement: string }>(`SELECT name, statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT id, n FROM items%'`);

    it('sends a statement with parameters by name: parsed once on a connection, planned for each call’s values', async () => {
      const seen = await db.write(async (sql) => {
        const answers = [await sql.rows(byId, ['a']), await sql.rows(byId, ['b'])];
        const [{ plan_cache_mode }] = await sql.rows<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
        return { answers, prepared: await kept(sql), plan_cache_mode };
      });
      expect(seen.answers).toEqual([[{ id: 'a', n: 0 }], [{ id: 'b', n: 0 }]]);
      expect(seen.prepared).toEqual([{ name: statementName(placeholders(byId)), statement: 'SELECT id, n FROM items WHERE id = $1' }]);
      expect(seen.plan_cache_mode).toBe('force_custom_plan');
    });

    it('sends every statement unnamed with prepared statements off', async () => {
      const unnamed = await replica(false);
      const prepared = await unnamed.write(async (sql) => {
        expect(await sql.rows(byId, ['a'])).toEqual([{ id: 'a', n: 0 }]);
        return kept(sql);
      });
      expect(prepared).toEqual([]);
    });

    it('names each text once, the same on every call, and no more than NAMED_STATEMENTS texts', () => {
      const texts = Array.from({ length: NAMED_STATEMENTS + 10 }, (_, i) => `SELECT ${i} AS n WHERE ? IS NOT NULL`);
      const names = texts.map((t) => statementName(t));
      expect(texts.map((t) => statementName(t))).toEqual(names);
      const given = names.filter((n) => n !== undefined);
      expect(new Set(given).size).toBe(given.length);
      expect(given.length).toBeLessThanOrEqual(NAMED_STATEMENTS);
      expect(names.slice(-10)).toEqual(Array(10).fill(undefined));
    });
  });
});
