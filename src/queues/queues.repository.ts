import { Injectable } from '@nestjs/common';
import { Sql, SqlDatabase } from '../database/sql';
import { ClaimScope } from '../jobs/jobs.repository';
import { JOB_STATES, JobState, sqlStates } from '../jobs/job-state';
import { QueueRow } from './queue.entity';

/** Every queue that has a row, by name: pauses, limits and overrides, as one unit of work read them. */
export type QueueSettings = ReadonlyMap<string, QueueRow>;

/** The columns of `queues` a change may set; null clears an override. */
export type QueueChange = Partial<Pick<QueueRow, 'paused' | 'concurrency' | 'max_retries' | 'backoff_base' | 'backoff_max' | 'job_timeout'>>;

const QUEUE_COLUMNS = 'name, paused, concurrency, max_retries, backoff_base, backoff_max, job_timeout, created_at, updated_at';
const CHANGEABLE = ['paused', 'concurrency', 'max_retries', 'backoff_base', 'backoff_max', 'job_timeout'] as const;

/** Every statement about queues: their settings, their counts, and what a claim may take from them. */
@Injectable()
export class QueuesRepository {
  /**
   * SQLite: the settings as committed, kept between units of work. Every claim, report and
   * enqueue reads them, and each read was a trip to SQLite's thread on the enqueue → start path.
   * One service owns a SQLite file and `upsert` is the only writer of `queues`, so the copy is
   * right until an upsert: it is dropped there, and not kept again until the transaction that
   * wrote has ended (committed or rolled back), so it never holds what a unit read of its own
   * or another's uncommitted change. PostgreSQL reads every time: another replica's change
   * reaches this one by a notification that may come after this replica's next claim.
   */
  private kept?: QueueSettings;
  /** Upserts so far, and the value of db.writesEnded at the last one. */
  private upserts = 0;
  private upsertDuring = -1;

  constructor(private readonly db: SqlDatabase) {}

  /** Every queue that has a row (settings), by name. A few rows: read whole, in the unit of work that needs them. Read-only. */
  async settings(sql: Sql = this.db): Promise<QueueSettings> {
    const keeping = this.db.dialect === 'sqlite';
    // A copy is only ever kept while settled, and the next upsert drops it.
    if (keeping && this.kept) return this.kept;
    const before = this.upserts;
    const rows = await sql.rows<QueueRow>(`SELECT ${QUEUE_COLUMNS} FROM queues`);
    const settings = new Map(rows.map((r) => [r.name, r]));
    // Kept only when no upsert was unsettled before the read or came during it.
    if (keeping && this.upserts === before && this.settled()) this.kept = settings;
    return settings;
  }

  /** No upsert waits for its transaction to end. */
  private settled(): boolean {
    return this.db.writesEnded > this.upsertDuring;
  }

  async find(name: string): Promise<QueueRow | undefined> {
    const [row] = await this.db.rows<QueueRow>(`SELECT ${QUEUE_COLUMNS} FROM queues WHERE name = ?`, [name]);
    return row;
  }

  /** Creates the queue's row when it has none (a pause or a setting of a queue without jobs yet), then changes it. */
  async upsert(sql: Sql, name: string, change: QueueChange, now: number): Promise<QueueRow> {
    this.kept = undefined;
    this.upserts++;
    this.upsertDuring = this.db.writesEnded;
    const keys = CHANGEABLE.filter((k) => change[k] !== undefined);
    const values = keys.map((k) => change[k]);
    const [row] = await sql.rows<QueueRow>(
      `INSERT INTO queues (name, ${keys.map((k) => `${k}, `).join('')}created_at, updated_at) VALUES (?, ${keys.map(() => '?, ').join('')}?, ?)
       ON CONFLICT (name) DO UPDATE SET ${[...keys.map((k) => `${k} = excluded.${k}`), 'updated_at = excluded.updated_at'].join(', ')}
       RETURNING ${QUEUE_COLUMNS}`,
      [name, ...values, now, now],
    );
    return row;
  }

  /** Jobs per queue and state: the covering index jobs_queue_state_seq, one queue or all. */
  async countsByQueue(queue?: string): Promise<Map<string, Record<JobState, number>>> {
    const rows = await this.db.rows<{ queue: string; state: JobState; n: number }>(
      `SELECT queue, state, COUNT(*) AS n FROM jobs ${queue === undefined ? '' : 'WHERE queue = ?'} GROUP BY queue, state`,
      queue === undefined ? [] : [queue],
    );
    const counts = new Map<string, Record<JobState, number>>();
    for (const r of rows) {
      if (!counts.has(r.queue)) counts.set(r.queue, Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>);
      counts.get(r.queue)![r.state] = Number(r.n);
    }
    return counts;
  }

  /**
   * Jobs waiting or running per queue (pending, processing, failed): the backlog a per-queue
   * alert watches, read through jobs_state_seq so finished jobs, the bulk of the table, are not read.
   */
  async backlogByQueue(): Promise<Array<{ queue: string; state: JobState; n: number }>> {
    const rows = await this.db.rows<{ queue: string; state: JobState; n: number }>(
      `SELECT queue, state, COUNT(*) AS n FROM jobs ${this.db.pick({ sqlite: 'INDEXED BY jobs_state_seq', postgres: '' })}
       WHERE state IN ('pending', 'processing', 'failed') GROUP BY queue, state`,
    );
    return rows.map((r) => ({ queue: r.queue, state: r.state, n: Number(r.n) }));
  }

  /**
   * What a claim may take (see JobsRepository.claimNext), or undefined when nothing restricts
   * it: no paused or limited queue, and the worker serves every queue.
   *
   * Otherwise the claim goes queue by queue: the queues with claimable jobs (those served, or all
   * of them found by a skip scan of jobs_queue_claimable: one index probe a queue, whatever the
   * backlogs), less the paused ones; the due head of each; the `limit` queues whose heads come
   * first in claim order (no job of another could be among the `limit` taken); of those, the
   * limited ones' free slots.
   *
   * A limit holds across workers and replicas because the running jobs of a limited queue are
   * counted after taking its row's lock (PostgreSQL; SQLite has one writer), in the claim's own
   * transaction: a second claim on another replica waits for the first to commit, then counts
   * the jobs it took. Only limited queues about to be claimed from are locked, in name order.
   */
  async claimScope(sql: Sql, queues: QueueSettings, served: string[] | undefined, now: number, limit: number): Promise<ClaimScope | undefined> {
    const restricted = [...queues.values()].some((q) => Number(q.paused) || Number(q.concurrency) > 0);
    if (!restricted && served === undefined) return undefined;
    const limitOf = (name: string) => Number(queues.get(name)?.concurrency ?? 0);
    let open = (served ?? (await this.queuesWithClaimableJobs(sql))).filter((name) => !Number(queues.get(name)?.paused ?? 0));
    // Full queues first drop out (a count without the lock: the locked count below decides), so
    // their heads never take the place of a queue that has room.
    const full = await this.runningCounts(sql, open.filter((name) => limitOf(name) > 0));
    open = open.filter((name) => limitOf(name) === 0 || (full.get(name) ?? 0) < limitOf(name));
    if (open.length === 0) return { takes: [] };

    const heads = await sql.rows<{ queue: string; priority: number; due_at: number; seq: number }>(
      this.db.pick({
        sqlite: `SELECT j.queue, j.priority, j.due_at, j.seq FROM json_each(?1) AS q JOIN jobs j ON j.id = (
            SELECT id FROM jobs INDEXED BY jobs_queue_claimable WHERE queue = q.value AND state IN (${sqlStates('claim')}) AND due_at <= ?2
            ORDER BY priority DESC, due_at, seq LIMIT 1)`,
        postgres: `SELECT h.queue, h.priority, h.due_at, h.seq FROM jsonb_array_elements_text(?1::jsonb) AS q (name)
          CROSS JOIN LATERAL (SELECT queue, priority, due_at, seq FROM jobs WHERE queue = q.name AND state IN (${sqlStates('claim')}) AND due_at <= ?2
            ORDER BY priority DESC, due_at, seq LIMIT 1) AS h`,
      }),
      [JSON.stringify(open), now],
    );
    heads.sort((a, b) => Number(b.priority) - Number(a.priority) || Number(a.due_at) - Number(b.due_at) || Number(a.seq) - Number(b.seq));
    const candidates = heads.slice(0, limit).map((h) => h.queue);
    const limited = candidates.filter((name) => Number(queues.get(name)?.concurrency ?? 0) > 0);
    const takes = candidates.filter((name) => !limited.includes(name)).map((queue) => ({ queue, slots: limit }));
    if (limited.length === 0) return { takes };

    // Locked in name order, so two claims never wait on each other crosswise; read again under the lock.
    const locked = await sql.rows<{ name: string; paused: number; concurrency: number }>(
      `SELECT name, paused, concurrency FROM queues WHERE name IN (${limited.map(() => '?').join(', ')}) ORDER BY name${this.db.pick({ sqlite: '', postgres: ' FOR UPDATE' })}`,
      limited,
    );
    const busy = await this.runningCounts(sql, limited);
    for (const q of locked) {
      const slots = Number(q.concurrency) > 0 ? Number(q.concurrency) - (busy.get(q.name) ?? 0) : limit;
      if (!Number(q.paused) && slots > 0) takes.push({ queue: q.name, slots: Math.min(slots, limit) });
    }
    return { takes };
  }

  /** Processing jobs of each of the queues, through jobs_queue_state_seq. */
  private async runningCounts(sql: Sql, names: string[]): Promise<Map<string, number>> {
    if (names.length === 0) return new Map();
    const rows = await sql.rows<{ queue: string; n: number }>(
      `SELECT queue, COUNT(*) AS n FROM jobs WHERE queue IN (${names.map(() => '?').join(', ')}) AND state = 'processing' GROUP BY queue`,
      names,
    );
    return new Map(rows.map((r) => [r.queue, Number(r.n)]));
  }

  /**
   * The queues that have pending or failed jobs, by a skip scan of jobs_queue_claimable: each step
   * finds the next queue name after the last one, one index probe a queue.
   */
  private async queuesWithClaimableJobs(sql: Sql): Promise<string[]> {
    const next = (after: string) =>
      `SELECT queue FROM jobs ${this.db.pick({ sqlite: 'INDEXED BY jobs_queue_claimable', postgres: '' })}
       WHERE state IN (${sqlStates('claim')})${after} ORDER BY queue LIMIT 1`;
    const rows = await sql.rows<{ name: string }>(
      `WITH RECURSIVE q (name) AS (
         SELECT (${next('')})
         UNION ALL
         SELECT (${next(' AND queue > q.name')}) FROM q WHERE q.name IS NOT NULL
       ) SELECT name FROM q WHERE name IS NOT NULL`,
    );
    return rows.map((r) => r.name);
  }
}
