import type { Pool, PoolClient, QueryResult } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { DuplicateJob, StorageUnavailable } from '../common/domain-errors';
import { CHANNEL, newSender, notifyMessages } from './replica-messages';
import { Announcement, deliverLocally, Pending, Sql, SqlDatabase, unitSql, Work } from './sql';

/** Units of work one transaction takes at most; the rest wait for the next one. */
export const MAX_BATCH = 256;
/** Times a batch is tried when PostgreSQL aborts it for a deadlock or a serialization failure. */
const ATTEMPTS = 5;
/** deadlock_detected, serialization_failure: the transaction was chosen as the victim, and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * PostgreSQL, through the `pg` pool TypeORM opened (and migrated).
 *
 * Writes keep SQLite's group commit, per replica: the units submitted while a transaction is
 * being written join the next one (at most MAX_BATCH), each inside its own SAVEPOINT so one
 * failing unit is rolled back alone; an idle replica commits at once. Other replicas write at
 * the same time, so PostgreSQL may abort a batch for a deadlock or a serialization failure: the
 * whole batch then runs again (its units are functions of the database only). Reads go straight
 * to the pool, beside the batch.
 *
 * What the units announce (Sql.announce) is sent with the same COMMIT, as `pg_notify` calls in
 * the transaction: PostgreSQL delivers them to the other replicas when it commits, so a waiter
 * there is woken by the write it waits for, with no second transaction (and second WAL flush)
 * in between.
 *
 * Statements arrive with SQLite's `?` / `?N` placeholders and are sent with `$N` ones; those with
 * parameters as named statements, unless `prepared` is off (see statementName).
 */
export class PostgresDatabase extends SqlDatabase {
  readonly dialect = 'postgres' as const;
  private readonly pool: Pool;
  protected override readonly maxBatch = MAX_BATCH;
  /** Names this service in what it announces (Notifications skips its own messages). */
  readonly sender = newSender();

  private readonly query: (target: Pool | PoolClient, sql: string, params: unknown[]) => Promise<QueryResult>;

  /** `prepared`: statements with parameters go as named statements, parsed once a connection (see statementName). */
  constructor(dataSource: DataSource, prepared = true) {
    super();
    this.pool = (dataSource.driver as PostgresDriver).master as Pool;
    this.query = (target, sql, params) => query(target, sql, params, prepared);
  }

  rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.query(this.pool, sql, params).then((r) => r.rows as T[]);
  }

  run(sql: string, params: unknown[] = []): Promise<number> {
    return this.query(this.pool, sql, params).then((r) => r.rowCount ?? 0);
  }

  protected alone<T>(work: Work<T>): Promise<T> {
    return this.withClient(async (client) => {
      const said: Announcement[] = [];
      const value = await work(unitSql(on((sql, params) => this.query(client, sql, params)), said));
      // No transaction is open: the notifications go out at once.
      if (said.length > 0) await client.query(notifications(client, this.sender, said)).catch(() => undefined);
      deliverLocally(said);
      return value;
    });
  }

  /**
   * One statement as a unit of work of its own, in autocommit: PostgreSQL commits it alone, one
   * round trip where a unit takes three (BEGIN with its first read, the statement, COMMIT). What
   * the unit announces goes in the same statement, a `pg_notify` for each row it answers
   * (PostgreSQL delivers identical notifications of one transaction once): the other replicas
   * hear it when it commits, and only if it answered a row; so does this service, once it has.
   * For a lone write on a replica with nothing else to write (JobsService.insertAlone): under load
   * the units share transactions instead, one WAL flush for many. `also` adds writes that go
   * with the statement's rows (PostgreSQL takes data-modifying common table expressions only at
   * the top of a statement).
   */
  override async autocommit<T>(sql: string, params: unknown[], said: Announcement[], also?: string): Promise<T[]> {
    const messages = notifyMessages(this.sender, said.map((a) => [a.topic, a.payload]));
    const told = messages.map((_, i) => `, pg_notify('${CHANNEL}', ?${params.length + i + 1}::text) AS told_${i}`).join('');
    const rows = await this.rows<T>(`WITH unit AS (${sql})${also === undefined ? '' : `, ${also}`} SELECT unit.*${told} FROM unit`, [...params, ...messages]);
    if (rows.length > 0) deliverLocally(said);
    return rows;
  }

  /**
   * A session advisory lock, per schema and name, taken without waiting on a connection held for
   * the work: another replica's sweep in progress means this one is skipped. Dies with the
   * connection, so a killed replica's lock is free again at once.
   */
  override asLeader<T>(name: string, work: () => Promise<T>): Promise<T | undefined> {
    return this.withClient(async (client) => {
      const key = `SELECT hashtext(current_schema() || '.' || $1) AS k`;
      const [{ k }] = (await client.query(key, [`queuectl.${name}`])).rows as Array<{ k: number }>;
      const [{ ok }] = (await client.query('SELECT pg_try_advisory_lock($1) AS ok', [k])).rows as Array<{ ok: boolean }>;
      if (!ok) return undefined;
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [k]);
      }
    });
  }

  private async withClient<T>(use: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw storageError(e);
    }
    let broken: Error | undefined;
    try {
      return await use(client);
    } catch (e) {
      if (lostConnection(e)) broken = e as Error;
      throw e;
    } finally {
      // A connection that failed is not given back to the pool for another request to find dead.
      client.release(broken);
    }
  }

  protected async commit(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let outcomes: Array<{ ok: boolean; value: unknown; said: Announcement[] }>;
      try {
        outcomes = await this.withClient((client) => this.transaction(client, batch));
      } catch (e) {
        if (RETRYABLE.has(code(e)) && attempt < ATTEMPTS) {
          // Apart a little, so the batch that won finishes first.
          await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
          continue;
        }
        const error = storageError(e);
        for (const p of batch) p.reject(error);
        return;
      }
      batch.forEach((p, i) => {
        deliverLocally(outcomes[i].said);
        if (outcomes[i].ok) p.resolve(outcomes[i].value);
        else p.reject(outcomes[i].value);
      });
      return;
    }
  }

  /**
   * One transaction over the batch. A unit that fails for itself is rolled back to its savepoint
   * and answered alone; a failure of the transaction (deadlock, lost connection) rolls back
   * everything and is thrown, for the whole batch.
   */
  private async transaction(client: PoolClient, batch: Pending[]): Promise<Array<{ ok: boolean; value: unknown; said: Announcement[] }>> {
    const alone = batch.length === 1;
    const opening = new Opening((sql, params) => this.query(client, sql, params), alone ? 'BEGIN' : 'BEGIN; SAVEPOINT unit');
    const statements = on((sql, params) => opening.query(sql, params));
    const outcomes: Array<{ ok: boolean; value: unknown; said: Announcement[] }> = [];
    try {
      for (let i = 0; i < batch.length; i++) {
        const said: Announcement[] = [];
        try {
          outcomes.push({ ok: true, value: await batch[i].work(unitSql(statements, said)), said });
        } catch (e) {
          if (alone || RETRYABLE.has(code(e)) || lostConnection(e)) throw e;
          // Rolled back to its savepoint: what it announced did not happen.
          outcomes.push({ ok: false, value: mapError(e), said: [] });
          await opening.query('ROLLBACK TO SAVEPOINT unit');
        }
        if (i < batch.length - 1) await opening.query('RELEASE SAVEPOINT unit; SAVEPOINT unit');
      }
      if (this.stallBeforeCommit) await this.stallBeforeCommit();
      // One trip: the notifications and the COMMIT that delivers them.
      await opening.query(`${notifications(client, this.sender, outcomes.flatMap((o) => o.said))}COMMIT`);
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A unit alone that failed for itself is answered with its own error, like any other.
      if (alone && !RETRYABLE.has(code(e)) && !lostConnection(e)) return [{ ok: false, value: mapError(e), said: [] }];
      throw e;
    }
    return outcomes;
  }
}

/**
 * The `pg_notify` statements (each ending in `;`) that carry `said` to the other replicas, to run
 * in the simple-query string before COMMIT (no parameters there, so the payloads are quoted by
 * the driver's own `escapeLiteral`). Empty when nothing was announced.
 */
function notifications(client: PoolClient, sender: string, said: Announcement[]): string {
  if (said.length === 0) return '';
  return notifyMessages(sender, said.map((a) => [a.topic, a.payload])).map((m) => `SELECT pg_notify('${CHANNEL}', ${client.escapeLiteral(m)}); `).join('');
}

/**
 * A transaction whose BEGIN (and first SAVEPOINT) has not been sent yet. It goes with the first
 * statement that has no parameters, as one simple query: one round trip where there were two.
 * Before a statement with parameters (the extended protocol takes one statement) it goes alone,
 * as it always did. Most units start with a read of the queue settings, which has none, so
 * PostgreSQL's enqueue, claim and report each make one round trip fewer.
 */
class Opening {
  constructor(
    private readonly send: (sql: string, params: unknown[]) => Promise<QueryResult>,
    /** Undefined once sent. */
    private begin: string | undefined,
  ) {}

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const begin = this.begin;
    this.begin = undefined;
    if (begin === undefined) return this.send(sql, params);
    if (params.length > 0) {
      await this.send(begin, []);
      return this.send(sql, params);
    }
    // A simple query of several statements answers with one result for each.
    const results = (await this.send(`${begin}; ${sql}`, [])) as unknown as QueryResult[];
    return results[results.length - 1];
  }
}

/** The statements of a unit of work, sent through `send` (on its connection, or its transaction's Opening). */
function on(send: (sql: string, params: unknown[]) => Promise<QueryResult>): Pick<Sql, 'rows' | 'run'> {
  return {
    rows: <T>(sql: string, params: unknown[] = []) => send(sql, params).then((r) => r.rows as T[]),
    run: (sql: string, params: unknown[] = []) => send(sql, params).then((r) => r.rowCount ?? 0),
  };
}

function query(target: Pool | PoolClient, sql: string, params: unknown[], prepared: boolean): Promise<QueryResult> {
  const text = placeholders(sql);
  const name = prepared && params.length > 0 ? statementName(text) : undefined;
  return (name === undefined ? target.query(text, params) : target.query({ name, text, values: params })).catch((e: unknown) => {
    throw mapError(e);
  });
}

/** Statements given names at most: the service's fixed statements, and room for some of those that vary. */
export const NAMED_STATEMENTS = 128;
const statementNames = new Map<string, string>();

/**
 * The name a statement text goes by, the same on every connection (the driver parses it once a
 * connection, then only binds and executes it), or undefined once NAMED_STATEMENTS texts have
 * names: the rest go unnamed, parsed every time, so a connection keeps a bounded number.
 *
 * Parsing and analysing the enqueue's INSERT cost PostgreSQL more than running it (on loopback,
 * BEGIN + INSERT + ROLLBACK took 0.59 ms unnamed, 0.30 named; see DECISIONS.md). The plan is
 * still made for each execution's values (plan_cache_mode = force_custom_plan, set on every
 * connection in data-source.ts): a generic plan could pick another index for the claim on a large
 * table. A pooler in transaction mode that does not carry named statements (PgBouncer before 1.21)
 * needs them off: `?prepared_statements=false` in QUEUECTL_DATABASE_URL.
 */
export function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < NAMED_STATEMENTS) statementNames.set(text, (name = `queuectl_${statementNames.size + 1}`));
  return name;
}

const translated = new Map<string, string>();

/**
 * `?` becomes `$1`, `$2`… in order, and `?N` becomes `$N`, outside quoted text. Statements are
 * mostly the same few texts, so translations are kept (a bounded number).
 */
export function placeholders(sql: string): string {
  const known = translated.get(sql);
  if (known !== undefined) return known;
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === quote) quote = undefined;
      out += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      out += c;
    } else if (c === '?') {
      const digits = /^\d+/.exec(sql.slice(i + 1))?.[0];
      if (digits) {
        out += `$${digits}`;
        i += digits.length;
      } else out += `$${++n}`;
    } else out += c;
  }
  if (translated.size < 1024) translated.set(sql, out);
  return out;
}

function code(e: unknown): string {
  return String((e as { code?: unknown } | undefined)?.code ?? '');
}

/** The connection is gone (the server went away, a network fault, an administrator's kill). */
function lostConnection(e: unknown): boolean {
  const c = code(e);
  if (c.startsWith('08') || c === '57P01' || c === '57P02' || c === '57P03') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(c)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(String((e as Error)?.message));
}

function storageError(e: unknown): unknown {
  if (e instanceof StorageUnavailable) return e;
  if (lostConnection(e)) return new StorageUnavailable(`PostgreSQL: ${String((e as Error).message).split('\n')[0]}`);
  return e;
}

/**
 * Errors the service answers as such: a duplicate job id (23505 on the jobs key, as SQLite's
 * UNIQUE failure) and a lost database (503). The rest pass unchanged.
 */
function mapError(e: unknown): unknown {
  if (code(e) === '23505' && (e as { constraint?: string }).constraint === 'jobs_pkey') {
    const id = /\(id\)=\((.*)\)/.exec(String((e as { detail?: string }).detail))?.[1];
    return new DuplicateJob([id ?? '?']);
  }
  return storageError(e);
}
