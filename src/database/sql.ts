import * as sqlite3 from 'sqlite3';
import type { Database, Statement } from 'sqlite3';
import { DataSource } from 'typeorm';
import { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver';
import { StorageUnavailable } from '../common/domain-errors';
import type { Topic } from './replica-messages';
import { PreparedStatements } from './prepared-statements';

/** One statement runner; the same shape inside and outside a write batch. */
export interface Sql {
  /** Runs a statement and returns its rows (SELECT, or a write with RETURNING). */
  rows<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a write and returns the number of rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /**
   * Tells whoever waits what this unit of work changed, once it is durable: `local` runs in this
   * service after the unit's transaction commits, and the other replicas hear `topic` by the
   * commit itself (PostgreSQL: a `pg_notify` inside the transaction). Neither happens for a unit
   * that is rolled back. Outside a unit of work, it is sent in a write of its own.
   */
  announce(topic: Topic, payload: string, local?: () => void): void;
}

/** What a unit of work announced, held until its transaction is known to have committed. */
export interface Announcement {
  topic: Topic;
  payload: string;
  local?: () => void;
}

/** The `Sql` a unit of work is given: `base`'s statements, its announcements kept in `said`. */
export function unitSql(base: Pick<Sql, 'rows' | 'run'>, said: Announcement[]): Sql {
  return {
    rows: (sql, params) => base.rows(sql, params),
    run: (sql, params) => base.run(sql, params),
    announce: (topic, payload, local) => void said.push({ topic, payload, local }),
  };
}

/**
 * An `Sql` that only announces, into `said`: what a statement sent some other way (autocommit)
 * will announce is collected through it, by the services' usual calls.
 */
export function announcing(said: Announcement[]): Sql {
  return unitSql(NO_STATEMENTS, said);
}

const NO_STATEMENTS: Pick<Sql, 'rows' | 'run'> = {
  rows: () => Promise.reject(new Error('an announcing unit runs no statement')),
  run: () => Promise.reject(new Error('an announcing unit runs no statement')),
};

/** Runs the local side of committed announcements; one listener's failure does not stop the rest. */
export function deliverLocally(said: Announcement[]): void {
  for (const a of said) {
    try {
      a.local?.();
    } catch {
      /* a waiter's own failure is its own; the write is committed */
    }
  }
}

export type Dialect = 'sqlite' | 'postgres';

/** A statement written once per dialect, side by side where they differ. */
export type PerDialect<T = string> = Record<Dialect, T>;

export type Work<T> = (sql: Sql) => Promise<T>;
export interface Pending {
  work: Work<unknown>;
  /** Runs alone and outside any transaction (VACUUM INTO, for one). */
  exclusive: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * The database as the repositories use it: reads with `rows`/`run`, writes through `write` (a
 * group commit: each unit of work shares a transaction with the units submitted alongside it and
 * is rolled back alone when it fails), and `exclusive` for work that must run outside any
 * transaction. Statements are written with `?` (or `?N`) placeholders; PostgreSQL's `$N` are
 * made from them in its implementation. A unit of work may run more than once (PostgreSQL retries
 * a whole batch after a deadlock), so it must not change anything but the database.
 */
export abstract class SqlDatabase implements Sql {
  abstract readonly dialect: Dialect;
  abstract rows<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  abstract run(sql: string, params?: unknown[]): Promise<number>;
  /**
   * Test hook, never set by the service: awaited in every write transaction after its units ran
   * and before COMMIT, as a disk whose fsync hangs would hold it. Writes submitted meanwhile wait
   * in the queue, as they would behind a slow disk. (test/faults-service-time.e2e-spec.ts)
   */
  stallBeforeCommit?: () => Promise<void>;
  /** Units of work one transaction takes at most; the rest wait for the next one. */
  protected readonly maxBatch: number = Infinity;
  private queue: Pending[] = [];
  private writing = false;
  private endedCount = 0;

  /**
   * Write transactions (batches, and exclusive units) ended so far, committed or rolled back. A
   * change made in a unit of work is settled, one way or the other, once this has moved past
   * the value it had when the change was made.
   */
  get writesEnded(): number {
    return this.endedCount;
  }

  /** Answers when the database does, for readiness. */
  probe(): Promise<unknown> {
    return this.rows('SELECT 1 AS ok');
  }

  /** This database's variant of a statement written per dialect. */
  pick<T>(variants: PerDialect<T>): T {
    return variants[this.dialect];
  }

  write<T>(work: Work<T>): Promise<T> {
    return this.submit(work, false);
  }

  /**
   * One statement as a unit of work of its own, outside any transaction, or undefined where the
   * dialect has no such path (SQLite: its transaction is opened ahead, a unit is already the
   * statement and its COMMIT). `also`: more writes of the same statement, as common table
   * expressions that may read the statement's rows as `unit`. See PostgresDatabase.autocommit.
   */
  autocommit?<T>(sql: string, params: unknown[], said: Announcement[], also?: string): Promise<T[]>;

  /** No write is queued or being written. */
  get writesIdle(): boolean {
    return !this.writing && this.queue.length === 0;
  }

  /** An announcement outside any unit of work: it goes out in a write of its own (see Sql.announce). */
  announce(topic: Topic, payload: string, local?: () => void): void {
    void this.write(async (sql) => sql.announce(topic, payload, local)).catch(() => local?.());
  }

  /** Runs `work` between write transactions, with no transaction open. */
  exclusive<T>(work: Work<T>): Promise<T> {
    return this.submit(work, true);
  }

  /**
   * Runs `work` if no other service on this database is running work of the same name, and
   * answers undefined (without running it) otherwise: for periodic sweeps that one replica at a
   * time should make. On SQLite there is one service, so it always runs.
   */
  asLeader<T>(_name: string, work: () => Promise<T>): Promise<T | undefined> {
    return work();
  }

  /** Writes one batch in one transaction, settling each unit's promise. */
  protected abstract commit(batch: Pending[]): Promise<void>;
  /** Runs an exclusive unit, outside any transaction. */
  protected abstract alone<T>(work: Work<T>): Promise<T>;

  private submit<T>(work: Work<T>, exclusive: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work: work as Work<unknown>, exclusive, resolve: resolve as (v: unknown) => void, reject });
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    try {
      for (;;) {
        while (this.queue.length > 0) {
          if (this.queue[0].exclusive) {
            const unit = this.queue.shift()!;
            await this.alone(unit.work).then(unit.resolve, unit.reject).finally(() => this.endedCount++);
            continue;
          }
          const end = this.queue.findIndex((p) => p.exclusive);
          await this.commit(this.queue.splice(0, Math.min(this.maxBatch, end < 0 ? this.queue.length : end))).finally(() => this.endedCount++);
        }
        await this.idle();
        if (this.queue.length === 0) break;
      }
    } finally {
      this.writing = false;
    }
  }

  /** Called when the queue has emptied, before writing stops: a dialect may get ready for the next unit. */
  protected async idle(): Promise<void> {}
}

/** The transaction opened ahead for the next batch (SqliteDatabase.idle): deferred, it takes no lock, so it cannot fail for want of one. */
const BEGIN_AHEAD = 'BEGIN DEFERRED';

/** One SQLite connection and the statements kept compiled on it. */
interface Connection {
  handle: Database;
  statements: PreparedStatements;
}

/** A statement that only reads, and may go to the reading connection. */
function readsOnly(sql: string): boolean {
  return /^\s*(SELECT|WITH)\b/i.test(sql) && !/\b(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(sql);
}

/**
 * SQLite.
 *
 * Writes go through `write()`, a group commit: every write submitted while a transaction is
 * being written joins the next one, so one fsync acknowledges many enqueues and reports under
 * load, and an idle queue still commits at once. Each unit of work runs inside its own
 * SAVEPOINT (when it shares the transaction), so one failing unit (say, a duplicate id) is
 * rolled back alone.
 *
 * SQLite allows one writer; the service is the only process that opens the file, and this
 * class is the only place in it that opens transactions, so they never interleave.
 *
 * Reads outside a unit of work (`rows` with a SELECT) go to a second connection, which sees only
 * what has committed (WAL). On the writing connection they would see the open transaction of a
 * group commit halfway: a job already dead whose run's error was not yet written, or jobs a
 * COMMIT that then failed (disk full) never stored.
 */
export class SqliteDatabase extends SqlDatabase {
  readonly dialect = 'sqlite' as const;
  /**
   * The SQLite connection TypeORM opened (and migrated): every unit of work runs on it.
   * Statements go to it directly: the query runner's per-statement bookkeeping (logger,
   * broadcaster, a promise chain) cost more than the statements themselves on the claim/report
   * path, and its SQLite runner drops the rows of UPDATE … RETURNING.
   */
  private readonly writer: Connection;
  /** The reading connection (the writer itself for a database in memory, which has no file to share). */
  private readonly reader: Connection;
  /** The statements of a unit of work: always the writer. */
  private readonly unitStatements: Pick<Sql, 'rows' | 'run'>;
  /** A write transaction is open on the writer, begun ahead for the next batch (see idle). */
  private openedAhead = false;

  constructor(dataSource: DataSource) {
    super();
    const handle = (dataSource.driver as AbstractSqliteDriver).databaseConnection as Database;
    this.writer = { handle, statements: new PreparedStatements(handle) };
    this.reader = this.openReader(dataSource) ?? this.writer;
    this.unitStatements = { rows: (sql, params) => this.query(this.writer, sql, params), run: (sql, params) => this.change(this.writer, sql, params) };
    // SQLite refuses to close a connection with statements still prepared, and TypeORM closes
    // this one when the app stops: the kept statements are finalized first, whoever closes it,
    // and the reading connection closes with it.
    const close = handle.close.bind(handle);
    handle.close = ((callback?: (err: Error | null) => void) => {
      void Promise.all([this.writer.statements.releaseAll(), this.closeReader()]).then(() => close(callback));
      return handle;
    }) as Database['close'];
  }

  rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.query<T>(readsOnly(sql) ? this.reader : this.writer, sql, params);
  }

  run(sql: string, params: unknown[] = []): Promise<number> {
    return this.change(this.writer, sql, params);
  }

  /** Answers once the writing connection does: readiness asks it, not the reader (a stalled disk holds the writer). */
  override probe(): Promise<unknown> {
    return this.query(this.writer, 'SELECT 1 AS ok', []);
  }

  private query<T>(on: Connection, sql: string, params: unknown[] = []): Promise<T[]> {
    const all = (target: Database | Statement, args: unknown[]) =>
      new Promise<T[]>((resolve, reject) =>
        (target as Statement).all(...args, (err: Error | null, rows: T[]) => (err ? reject(storageError(err)) : resolve(rows))),
      );
    const kept = this.kept(on, sql, params);
    if (kept === undefined) return all(on.handle, [sql, params]);
    return kept instanceof Promise ? kept.then((s) => all(s, [params]), rejectStorage) : all(kept, [params]);
  }

  private change(on: Connection, sql: string, params: unknown[] = []): Promise<number> {
    const run = (target: Database | Statement, args: unknown[]) =>
      new Promise<number>((resolve, reject) =>
        (target as Statement).run(...args, function (this: { changes: number }, err: Error | null) {
          if (err) reject(storageError(err));
          else resolve(this.changes);
        }),
      );
    const kept = this.kept(on, sql, params);
    if (kept === undefined) return run(on.handle, [sql, params]);
    return kept instanceof Promise ? kept.then((s) => run(s, [params]), rejectStorage) : run(kept, [params]);
  }

  /**
   * The kept statement for a call with parameters. Without any, a kept statement would run
   * with the previous call's values still bound (the driver only rebinds when given some),
   * where a fresh one binds NULL, so those go one-shot.
   */
  private kept(on: Connection, sql: string, params: unknown[]): Statement | Promise<Statement> | undefined {
    return params.length > 0 ? on.statements.get(sql) : undefined;
  }

  /**
   * A second connection to the same file, for reads: it never writes (query_only), and waits
   * for a lock as the writer does. Opening is queued by the driver; statements sent meanwhile
   * run once it is open. Undefined for a database in memory.
   */
  private openReader(dataSource: DataSource): Connection | undefined {
    const file = String(dataSource.options.database ?? '');
    if (file === '' || file === ':memory:') return undefined;
    const handle = new sqlite3.Database(file, sqlite3.OPEN_READWRITE);
    handle.on('error', () => undefined);
    handle.exec('PRAGMA query_only = 1; PRAGMA busy_timeout = 5000');
    return { handle, statements: new PreparedStatements(handle) };
  }

  private async closeReader(): Promise<void> {
    if (this.reader === this.writer) return;
    await this.reader.statements.releaseAll();
    await new Promise<void>((resolve) => this.reader.handle.close(() => resolve()));
  }

  protected async alone<T>(work: Work<T>): Promise<T> {
    await this.closeAhead();
    const said: Announcement[] = [];
    return work(unitSql(this.unitStatements, said)).finally(() => deliverLocally(said));
  }

  /**
   * The next write transaction is opened ahead, off any request's path: with the COMMIT of the
   * last one (one trip, see commit), or here, when the queue empties after a batch that could
   * not open it. The next unit then starts with its first statement. It is a deferred BEGIN: it
   * takes no lock and no snapshot until that statement (the service is its file's only writer, so
   * the lock is there to take), nothing is written in it before that unit, so a crash loses
   * nothing, and it does not fail for want of a lock, so an error from `COMMIT; BEGIN` is the
   * COMMIT's. Exclusive units (VACUUM INTO) end it first.
   */
  protected override async idle(): Promise<void> {
    if (this.openedAhead) return;
    try {
      await this.exec(BEGIN_AHEAD);
      this.openedAhead = true;
    } catch {
      /* the next batch begins its own, and meets the error there */
    }
  }

  private async closeAhead(): Promise<void> {
    if (!this.openedAhead) return;
    this.openedAhead = false;
    await this.exec('ROLLBACK').catch(() => undefined);
  }

  /** Runs several statements without parameters in one trip to SQLite's thread. */
  private exec(sql: string): Promise<void> {
    return new Promise<void>((resolve, reject) => this.writer.handle.exec(sql, (err: Error | null) => (err ? reject(storageError(err)) : resolve())));
  }

  /**
   * Every statement is a trip to the SQLite thread and back through the event loop, and under
   * load those trips are most of a commit's time, so statements are merged where the order
   * allows: a unit alone needs no SAVEPOINT at all (the transaction is its undo), and between
   * units one trip releases the last savepoint and opens the next.
   */
  protected async commit(batch: Pending[]): Promise<void> {
    const alone = batch.length === 1;
    const opened = this.openedAhead;
    this.openedAhead = false;
    try {
      const begin = (opened ? [] : ['BEGIN IMMEDIATE']).concat(alone ? [] : ['SAVEPOINT unit']);
      if (begin.length > 0) await this.exec(begin.join('; '));
    } catch (e) {
      // A batch's SAVEPOINT failed with its transaction open (begun in this statement or ahead);
      // a unit alone reaches here only when its own BEGIN failed, with nothing to roll back.
      if (!alone) await this.exec('ROLLBACK').catch(() => undefined);
      for (const p of batch) p.reject(e);
      return;
    }
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    // One service owns a SQLite file: announcements have only their local side, run after COMMIT.
    const said = batch.map((): Announcement[] => []);
    // Set when the whole transaction must go: a unit alone failed, or SQLite ended the
    // transaction itself (after a full disk or an I/O error it rolls back everything, and a
    // unit run after that would commit on its own, outside the batch).
    let lost: { error: unknown } | undefined;
    for (let i = 0; i < batch.length && lost === undefined; i++) {
      try {
        outcomes.push({ ok: true, value: await batch[i].work(unitSql(this.unitStatements, said[i])) });
      } catch (e) {
        said[i].length = 0;
        outcomes.push({ ok: false, value: e });
        if (alone) lost = { error: e };
        else await this.exec('ROLLBACK TO unit').catch(() => (lost = { error: e }));
      }
      if (i < batch.length - 1 && lost === undefined) await this.exec('RELEASE unit; SAVEPOINT unit').catch((e) => (lost = { error: e }));
    }
    if (lost !== undefined) {
      await this.exec('ROLLBACK').catch(() => undefined);
      // Every unit of the batch was undone with the one that failed, so each gets its error.
      for (const p of batch) p.reject(lost.error);
      return;
    }
    try {
      if (this.stallBeforeCommit) await this.stallBeforeCommit();
      await this.exec(`COMMIT; ${BEGIN_AHEAD}`);
      this.openedAhead = true;
    } catch (e) {
      await this.exec('ROLLBACK').catch(() => undefined);
      for (const p of batch) p.reject(e);
      return;
    }
    batch.forEach((p, i) => {
      deliverLocally(said[i]);
      if (outcomes[i].ok) p.resolve(outcomes[i].value);
      else p.reject(outcomes[i].value);
    });
  }
}

/** Errors that mean the database itself is unusable become StorageUnavailable (HTTP 503). */
function rejectStorage(err: Error): never {
  throw storageError(err);
}

function storageError(err: Error): Error {
  if (/SQLITE_(FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB)/.test(err.message)) return new StorageUnavailable(err.message.split('\n')[0]);
  return err;
}
