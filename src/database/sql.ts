import type { Database } from 'sqlite3';
import { DataSource } from 'typeorm';
import { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver';
import { StorageUnavailable } from '../common/domain-errors';

/** One statement runner; the same shape inside and outside a write batch. */
export interface Sql {
  /** Runs a statement and returns its rows (SELECT, or a write with RETURNING). */
  rows<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a write and returns the number of rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
}

type Work<T> = (sql: Sql) => Promise<T>;
interface Pending {
  work: Work<unknown>;
  /** Runs alone and outside any transaction (VACUUM INTO, for one). */
  exclusive: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * The database as the repositories use it.
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
export class SqlDatabase implements Sql {
  private queue: Pending[] = [];
  private writing = false;
  /**
   * The one SQLite connection TypeORM opened (and migrated). Statements go to it directly: the
   * query runner's per-statement bookkeeping (logger, broadcaster, a promise chain) cost more
   * than the statements themselves on the claim/report path, and its SQLite runner drops the
   * rows of UPDATE … RETURNING.
   */
  private readonly connection: Database;

  constructor(dataSource: DataSource) {
    this.connection = (dataSource.driver as AbstractSqliteDriver).databaseConnection as Database;
  }

  rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return new Promise<T[]>((resolve, reject) =>
      this.connection.all(sql, params, (err: Error | null, rows: T[]) => (err ? reject(storageError(err)) : resolve(rows))),
    );
  }

  run(sql: string, params: unknown[] = []): Promise<number> {
    return new Promise<number>((resolve, reject) =>
      this.connection.run(sql, params, function (this: { changes: number }, err: Error | null) {
        if (err) reject(storageError(err));
        else resolve(this.changes);
      }),
    );
  }

  write<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work: work as Work<unknown>, exclusive: false, resolve: resolve as (v: unknown) => void, reject });
      if (!this.writing) void this.flush();
    });
  }

  /** Runs `work` between write transactions, with no transaction open. */
  exclusive<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work: work as Work<unknown>, exclusive: true, resolve: resolve as (v: unknown) => void, reject });
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        if (this.queue[0].exclusive) {
          const alone = this.queue.shift()!;
          await alone.work(this).then(alone.resolve, alone.reject);
          continue;
        }
        const end = this.queue.findIndex((p) => p.exclusive);
        const batch = end < 0 ? this.queue.splice(0) : this.queue.splice(0, end);
        await this.commit(batch);
      }
    } finally {
      this.writing = false;
    }
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
  private async commit(batch: Pending[]): Promise<void> {
    const alone = batch.length === 1;
    try {
      await this.exec(alone ? 'BEGIN IMMEDIATE' : 'BEGIN IMMEDIATE; SAVEPOINT unit');
    } catch (e) {
      // BEGIN may have succeeded before SAVEPOINT failed.
      if (!alone) await this.run('ROLLBACK').catch(() => undefined);
      for (const p of batch) p.reject(e);
      return;
    }
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    // Set when the whole transaction must go: a unit alone failed, or SQLite ended the
    // transaction itself (after a full disk or an I/O error it rolls back everything, and a
    // unit run after that would commit on its own, outside the batch).
    let lost: { error: unknown } | undefined;
    for (let i = 0; i < batch.length && lost === undefined; i++) {
      try {
        outcomes.push({ ok: true, value: await batch[i].work(this) });
      } catch (e) {
        outcomes.push({ ok: false, value: e });
        if (alone) lost = { error: e };
        else await this.exec('ROLLBACK TO unit').catch(() => (lost = { error: e }));
      }
      if (i < batch.length - 1 && lost === undefined) await this.exec('RELEASE unit; SAVEPOINT unit').catch((e) => (lost = { error: e }));
    }
    if (lost !== undefined) {
      await this.run('ROLLBACK').catch(() => undefined);
      // Every unit of the batch was undone with the one that failed, so each gets its error.
      for (const p of batch) p.reject(lost.error);
      return;
    }
    try {
      await this.run('COMMIT');
    } catch (e) {
      await this.run('ROLLBACK').catch(() => undefined);
      for (const p of batch) p.reject(e);
      return;
    }
    batch.forEach((p, i) => (outcomes[i].ok ? p.resolve(outcomes[i].value) : p.reject(outcomes[i].value)));
  }
}

/** Errors that mean the database itself is unusable become StorageUnavailable (HTTP 503). */
function storageError(err: Error): Error {
  if (/SQLITE_(FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB)/.test(err.message)) return new StorageUnavailable(err.message.split('\n')[0]);
  return err;
}
