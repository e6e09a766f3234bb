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

  /** This database's variant of a statement written per dialect. */
  pick<T>(variants: PerDialect<T>): T {
    return variants[this.dialect];
  }

  write<T>(work: Work<T>): Promise<T> {
    return this.submit(work, false);
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
      while (this.queue.length > 0) {
        if (this.queue[0].exclusive) {
          const unit = this.queue.shift()!;
          await this.alone(unit.work).then(unit.resolve, unit.reject).finally(() => this.endedCount++);
          continue;
        }
        const end = this.queue.findIndex((p) => p.exclusive);
        await this.commit(this.queue.splice(0, Math.min(this.maxBatch, end < 0 ? this.queue.length : end))).finally(() => this.endedCount++);
      }
    } finally {
      this.writing = false;
    }
  }
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
 */
export class SqliteDatabase extends SqlDatabase {
  readonly dialect = 'sqlite' as const;
  /**
   * The one SQLite connection TypeORM opened (and migrated). Statements go to it directly: the
   * query runner's per-statement bookkeeping (logger, broadcaster, a promise chain) cost more
   * than the statements themselves on the claim/report path, and its SQLite runner drops the
   * rows of UPDATE … RETURNING.
   */
  private readonly connection: Database;
  private readonly statements: PreparedStatements;

  constructor(dataSource: DataSource) {
    super();
    this.connection = (dataSource.driver as AbstractSqliteDriver).databaseConnection as Database;
    this.statements = new PreparedStatements(this.connection);
    // SQLite refuses to close a connection with statements still prepared, and TypeORM closes
    // this one when the app stops: the kept statements are finalized first, whoever closes it.
    const close = this.connection.close.bind(this.connection);
    this.connection.close = ((callback?: (err: Error | null) => void) => {
      void this.statements.releaseAll().then(() => close(callback));
      return this.connection;
    }) as Database['close'];
  }

  rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const all = (target: Database | Statement, args: unknown[]) =>
      new Promise<T[]>((resolve, reject) =>
        (target as Statement).all(...args, (err: Error | null, rows: T[]) => (err ? reject(storageError(err)) : resolve(rows))),
      );
    const kept = this.kept(sql, params);
    if (kept === undefined) return all(this.connection, [sql, params]);
    return kept instanceof Promise ? kept.then((s) => all(s, [params]), rejectStorage) : all(kept, [params]);
  }

  run(sql: string, params: unknown[] = []): Promise<number> {
    const run = (target: Database | Statement, args: unknown[]) =>
      new Promise<number>((resolve, reject) =>
        (target as Statement).run(...args, function (this: { changes: number }, err: Error | null) {
          if (err) reject(storageError(err));
          else resolve(this.changes);
        }),
      );
    const kept = this.kept(sql, params);
    if (kept === undefined) return run(this.connection, [sql, params]);
    return kept instanceof Promise ? kept.then((s) => run(s, [params]), rejectStorage) : run(kept, [params]);
  }

  /**
   * The kept statement for a call with parameters. Without any, a kept statement would run
   * with the previous call's values still bound (the driver only rebinds when given some),
   * where a fresh one binds NULL, so those go one-shot.
   */
  private kept(sql: string, params: unknown[]): Statement | Promise<Statement> | undefined {
    return params.length > 0 ? this.statements.get(sql) : undefined;
  }

  protected alone<T>(work: Work<T>): Promise<T> {
    const said: Announcement[] = [];
    return work(unitSql(this, said)).finally(() => deliverLocally(said));
  }

  /** Runs several statements without parameters in one trip to SQLite's thread. */
  private exec(sql: string): Promise<void> {
    return new Promise<void>((resolve, reject) => this.connection.exec(sql, (err: Error | null) => (err ? reject(storageError(err)) : resolve())));
  }

  /**
   * Every statement is a trip to the SQLite thread and back through the event loop, and under
   * load those trips are most of a commit's time, so statements are merged where the order
   * allows: a unit alone needs no SAVEPOINT at all (the transaction is its undo), and between
   * units one trip releases the last savepoint and opens the next.
   */
  protected async commit(batch: Pending[]): Promise<void> {
    const alone = batch.length === 1;
    try {
      await this.exec(alone ? 'BEGIN IMMEDIATE' : 'BEGIN IMMEDIATE; SAVEPOINT unit');
    } catch (e) {
      // BEGIN may have succeeded before SAVEPOINT failed.
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
        outcomes.push({ ok: true, value: await batch[i].work(unitSql(this, said[i])) });
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
      await this.exec('COMMIT');
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
