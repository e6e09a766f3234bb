/**
 * The statements that must stay flat as the jobs table grows: the plan SQLite chooses for each,
 * and for reads, how long the statement alone takes. The SQL is not copied here: a
 * JobsRepository is handed a recorder instead of a database, each method under test runs once,
 * and the statements it issued are explained (and reads run) on a read-only connection to the
 * live service's file, so plans and times are those of the code as built.
 */
import 'reflect-metadata';
import sqlite3 from 'sqlite3';
import type { Dialect, PerDialect, Sql, SqlDatabase } from '../src/database/sql';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { median } from './bench-support';

interface Statement {
  sql: string;
  params: unknown[];
}

export interface QueryPlan {
  name: string;
  sql: string;
  plan: string[];
  /**
   * A step that reads a table without an index or sorts every matching row. An index walk that
   * filters as it goes (a search that matches little) is not caught here; the timings show it.
   */
  unindexed: boolean;
  /** Median time of the statement alone, for reads (writes are only explained); milliseconds. */
  ms: number | null;
}

/** Stands in for the database: remembers statements, answers nothing. */
export class StatementRecorder implements Sql {
  readonly statements: Statement[] = [];

  /** Records the statements of one dialect (a repository asks its database which one). */
  constructor(readonly dialect: Dialect = 'sqlite') {}

  pick<T>(variants: PerDialect<T>): T {
    return variants[this.dialect];
  }

  async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    this.statements.push({ sql, params });
    return [];
  }

  async run(sql: string, params: unknown[] = []): Promise<number> {
    this.statements.push({ sql, params });
    return 0;
  }

  /** Announcements are not statements: nothing to record. */
  announce(): void {}
}

/** What the service asks on its hot paths: listing, status, claiming, the reaper, metrics. */
function hotPaths(middleSeq: number, now: number): Array<[string, (repo: JobsRepository, sql: Sql) => Promise<unknown>]> {
  const hour = now - 3_600_000;
  return [
    ['list first page', (r) => r.list({ limit: 50 })],
    ['list deep page', (r) => r.list({ limit: 50, beforeSeq: middleSeq })],
    ['list pending', (r) => r.list({ state: 'pending', limit: 50 })],
    ['list pending deep', (r) => r.list({ state: 'pending', limit: 50, beforeSeq: middleSeq })],
    ['search (no match)', (r) => r.list({ search: 'no-such-command', limit: 50 })],
    ['status counts', (r) => r.countByState()],
    ['enqueue', (r, sql) => r.insertGroups(sql, [[{ id: 'plan-job', command: 'true', maxRetries: 3, priority: 0, runAt: null, timeoutSeconds: null, backoffBase: null }]], now)],
    ['claim', (r, sql) => r.claimNext(sql, 'w-plan', now, now + 30_000, 1)],
    ['report: complete', (r, sql) => r.completeRuns(sql, [{ id: 'plan-job', lease: 1 }], now)],
    ['report: finish run', (r, sql) => r.finishAttempt(sql, 'plan-job', 1, now, { exitCode: 0, error: null })],
    ['heartbeat', (r, sql) => r.extendLease(sql, 'plan-job', 1, now + 30_000)],
    ['claim wait: next due', (r) => r.nextDueAt()],
    ['lease reaper', (r) => r.findExpiredLeases(now, 500)],
    ['retention slice', (r, sql) => r.pruneFinishedSlice(sql, now, 1000)],
    ['metrics: per minute', (r) => r.finishedAttemptsPerMinute(hour, now)],
    ['metrics: durations', (r) => r.recentDurations(hour, 10_000)],
    ['metrics: start delays', (r) => r.recentFirstStartDelays(hour, 10_000)],
    ['metrics: oldest due', (r) => r.oldestDueAt(now)],
  ];
}

function all<T>(db: sqlite3.Database, sql: string, params: unknown[]): Promise<T[]> {
  return new Promise((resolve, reject) => db.all(sql, params, (err, rows: T[]) => (err ? reject(err) : resolve(rows))));
}

/** Median of five runs of a read, after one to warm the page cache. */
async function timeRead(db: sqlite3.Database, statement: Statement): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    await all(db, statement.sql, statement.params);
    if (i > 0) ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** Plans (and for reads, times) of the hot-path statements against the database file, as it is now. */
export async function queryPlans(file: string, middleSeq: number, now: number): Promise<QueryPlan[]> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const conn = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(conn)));
  });
  try {
    const plans: QueryPlan[] = [];
    for (const [name, call] of hotPaths(middleSeq, now)) {
      const recorder = new StatementRecorder();
      await call(new JobsRepository(recorder as unknown as SqlDatabase), recorder);
      for (const statement of recorder.statements) {
        const plan = (await all<{ detail: string }>(db, `EXPLAIN QUERY PLAN ${statement.sql}`, statement.params)).map((r) => r.detail);
        // "SCAN t" without an index reads every row; a temp B-tree sorts every matching row.
        // job_counts holds one row a state: reading all of it is the point.
        const unindexed = plan.some((step) => (/^SCAN (?!picked$|\w+_walk$)\w+( AS \w+)?$/.test(step) && step !== 'SCAN job_counts') || step.includes('USE TEMP B-TREE'));
        const ms = /^\s*SELECT/i.test(statement.sql) ? await timeRead(db, statement) : null;
        plans.push({ name, sql: statement.sql.replace(/\s+/g, ' ').trim(), plan, unindexed, ms });
      }
    }
    return plans;
  } finally {
    await new Promise((resolve) => db.close(resolve));
  }
}
