import { Injectable, OnModuleInit } from '@nestjs/common';
import { DuplicateJob } from '../common/domain-errors';
import { Announcement, Sql, SqlDatabase } from '../database/sql';
import { AttemptOutcome, AttemptRow, DraftJob, JobRow, NewJob } from './job-row';
import { JOB_STATES, JobState, sqlStates } from './job-state';
import { BLOCKED_DUE_AT } from './job-dependencies.repository';
import { jobInsert, jobInsertCounted } from './job-insert';

export interface ListFilter {
  state?: JobState;
  /** Matches a job id exactly, or a part of the command. */
  search?: string;
  limit: number;
  /** Keyset pagination: only jobs created before this sequence number. */
  beforeSeq?: number;
  queue?: string;
}

/**
 * What a claim may take when some queues are paused or limited, or the worker serves only some
 * (see claimNext): at most `slots` jobs of each queue named. Absent: every queue, no limit, the
 * plain claim.
 */
export interface ClaimScope {
  takes: Array<{ queue: string; slots: number }>;
}

/** The queue of a job that names none. */
export const DEFAULT_QUEUE = 'default';

const JOB_COLUMNS = `id, seq, command, state, attempts, max_retries, priority, run_at, due_at, timeout_seconds,
  backoff_base, last_error, exit_code, worker_id, lease, lease_expires_at, cancel_requested, created_at, updated_at,
  started_at, finished_at, queue, cwd, env`;
/** Rows one page of a search by part of a command reads at most (see `list`). */
const SEARCH_WINDOW = 20_000;
const ATTEMPT_COLUMNS = `job_id, run, attempt, worker_id, started_at, finished_at, exit_code, error, output_bytes, output_truncated`;
/** An attempt whose command exited 0 with no error. */
const SUCCEEDED = `exit_code = 0 AND COALESCE(error, '') = ''`;
/**
 * Characters of commands per INSERT: the rows go to SQLite as one JSON text, which must stay
 * far below its limit of a billion bytes even when every character is escaped (up to 6 bytes).
 */
const INSERT_CHUNK_CHARS = 8 * 1024 * 1024;
/** PostgreSQL: rows from which an INSERT goes in a savepoint instead of skipping taken ids (see insertOrNothing). */
const SAVEPOINT_ROWS = 1000;

/**
 * Every statement about jobs, named by intent. Writes take the `Sql` of a unit of work from
 * `SqlDatabase.write` so a service can compose several into one transaction. A state change is
 * a compare-and-set on the states of TRANSITIONS (and, for a running job, on its lease): a
 * `false` or empty result means the job was not as expected, which callers treat as a normal
 * outcome.
 */
@Injectable()
export class JobsRepository implements OnModuleInit {
  private lastSeq = 0;

  constructor(private readonly db: SqlDatabase) {}

  async onModuleInit(): Promise<void> {
    // PostgreSQL numbers jobs with an identity: replicas share no counter.
    if (this.db.dialect === 'postgres') return;
    const [row] = await this.db.rows<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM jobs');
    this.lastSeq = Number(row?.seq ?? 0);
  }

  /** Inserts all jobs or none: a duplicate id (in the table or in the batch) rejects the batch. */
  async insert(sql: Sql, jobs: NewJob[], now: number): Promise<JobRow[]> {
    const [outcome] = await this.insertGroups(sql, [jobs], now);
    if (outcome instanceof DuplicateJob) throw outcome;
    return outcome;
  }

  /**
   * Inserts several independent groups (one per enqueue request) with one multi-row INSERT: each
   * group is all or nothing, and a group with a duplicate id (in the table, in itself, or in an
   * earlier group) is answered with DuplicateJob while the others go in.
   *
   * Ids already in the table are rare, so the INSERT is tried first and the table's primary key
   * finds them; only when it refuses are the taken ids looked up and the rest inserted. (When
   * the rows need several statements, the lookup comes first: one statement of several cannot
   * be undone alone.)
   */
  async insertGroups(sql: Sql, groups: NewJob[][], now: number): Promise<Array<JobRow[] | DuplicateJob>> {
    if (this.db.dialect === 'postgres') return this.insertGroupsPostgres(sql, groups, now);
    const seqBefore = this.lastSeq;
    const hopeful = this.admit(groups, new Set(), now);
    const chunks = insertChunks(hopeful.rows);
    if (chunks.length === 0) return hopeful.outcomes;
    if (chunks.length === 1) {
      try {
        await this.insertRows(sql, chunks[0], now);
        return hopeful.outcomes;
      } catch (e) {
        // Not `instanceof Error`: the driver's errors may come from another realm (Jest's, for one).
        if (!String((e as { message?: unknown } | undefined)?.message).includes('UNIQUE constraint failed: jobs.id')) throw e;
      }
    }
    // Nothing of the attempt above is stored, so its sequence numbers are free again.
    this.lastSeq = seqBefore;
    const checked = this.admit(groups, await this.existingIds(sql, groups.flat().map((j) => j.id)), now);
    for (const chunk of insertChunks(checked.rows)) await this.insertRows(sql, chunk, now);
    return checked.outcomes;
  }

  /**
   * PostgreSQL: one INSERT of every row, with ON CONFLICT DO NOTHING finding the ids already
   * taken (a failed statement would abort the whole transaction, so the key may not refuse). When
   * some were taken (rare), the rows this INSERT added are deleted again and the groups are
   * decided again against them; another replica may take an id in between, so this repeats,
   * boundedly. (A savepoint around the INSERT did the same at the price of two more round trips
   * to PostgreSQL for every enqueue, in the common case where no id is taken.) A chunk of many
   * rows is the exception: see insertOrNothing.
   */
  private async insertGroupsPostgres(sql: Sql, groups: NewJob[][], now: number): Promise<Array<JobRow[] | DuplicateJob>> {
    const taken = new Set<string>();
    for (let round = 0; ; round++) {
      const admitted = this.admit(groups, new Set(taken), now);
      const chunks = insertChunks(admitted.rows);
      if (chunks.length === 0) return admitted.outcomes;
      const stored = new Map<string, number>();
      for (const chunk of chunks) {
        if (chunk.length >= SAVEPOINT_ROWS) {
          const seqs = await this.insertOrNothing(sql, chunk, now);
          if (seqs === undefined) break;
          chunk.forEach((r, i) => stored.set(r.id, seqs[i]));
          continue;
        }
        for (const r of await sql.rows<{ id: string; seq: number }>(...jobInsert('postgres', chunk, now))) stored.set(r.id, r.seq);
      }
      if (stored.size === admitted.rows.length) {
        for (const r of admitted.rows) r.seq = stored.get(r.id)!;
        return admitted.outcomes;
      }
      if (stored.size > 0) await sql.run('DELETE FROM jobs WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))', [JSON.stringify([...stored.keys()])]);
      if (round >= 3) throw new Error('job ids kept being taken by concurrent inserts');
      for (const id of await this.existingIds(sql, groups.flat().map((j) => j.id))) taken.add(id);
    }
  }

  /**
   * PostgreSQL: the rows of a large chunk go in with a plain INSERT in a savepoint, all of them
   * or none (undefined) when an id is taken. ON CONFLICT checks each row against the key before
   * inserting it, a seventh of a 10,000-row INSERT; two round trips more are nothing beside that.
   *
   * Answers the rows' sequence numbers in the chunk's order. Every row went in, so the statement
   * (jobInsertCounted) answers one row: the identity numbers the rows in their order, so when the
   * numbers it took have no gap they are the first and the ones after it.
   */
  private async insertOrNothing(sql: Sql, rows: JobRow[], now: number): Promise<number[] | undefined> {
    await sql.run('SAVEPOINT job_insert');
    try {
      const [taken] = await sql.rows<{ n: string; first: string; gaps: string | null }>(...jobInsertCounted(rows, now));
      await sql.run('RELEASE SAVEPOINT job_insert');
      if (Number(taken.n) !== rows.length) throw new Error(`job insert: ${taken.n} of ${rows.length} rows stored`);
      if (taken.gaps !== null) return taken.gaps.split(',').map(Number);
      const first = Number(taken.first);
      return rows.map((_, i) => first + i);
    } catch (e) {
      if (!(e instanceof DuplicateJob)) throw e;
      await sql.run('ROLLBACK TO SAVEPOINT job_insert; RELEASE SAVEPOINT job_insert');
      return undefined;
    }
  }

  /**
   * PostgreSQL: one job inserted by one statement in autocommit (SqlDatabase.autocommit), with
   * what `said` announces; a job given no max retries takes its queue's as the statement reads
   * it, else `maxRetries`. Answers the row stored, or undefined when its id is taken (nothing is
   * stored then, and nothing announced).
   */
  async insertAlone(job: DraftJob, now: number, maxRetries: number, said: Announcement[]): Promise<JobRow | undefined> {
    return (await this.insertOne(job, now, maxRetries, said))?.row;
  }

  /**
   * PostgreSQL: one job inserted already claimed by `claimedBy.workerId`, with its first attempt's
   * row, by one statement in autocommit (jobInsert's `claimedBy`): what a claim waiting for work
   * would have done with it, in one round trip instead of a unit's four (BEGIN with the queue
   * settings, the INSERT, the claim, COMMIT). Only while no other job is due and the job's queue
   * is neither paused nor limited; undefined otherwise and when the id is taken, with nothing
   * stored or announced. Answers the row as enqueued (as `insertAlone` does), the run's fencing
   * value and its queue's job timeout.
   */
  async insertClaimed(
    job: DraftJob,
    now: number,
    maxRetries: number,
    claimedBy: { workerId: string; leaseUntil: number },
    said: Announcement[],
  ): Promise<{ row: JobRow; lease: number; queueTimeout: number | null } | undefined> {
    const stored = await this.insertOne(job, now, maxRetries, said, claimedBy);
    return stored && { row: stored.row, lease: Number(stored.answer.lease), queueTimeout: stored.answer.queue_timeout ?? null };
  }

  /** One job by one statement in autocommit, pending or claimed (insertAlone, insertClaimed): the row as enqueued and what the statement answered. */
  private async insertOne(
    job: DraftJob,
    now: number,
    maxRetries: number,
    said: Announcement[],
    claimedBy?: { workerId: string; leaseUntil: number },
  ): Promise<{ row: JobRow; answer: { seq: string; max_retries: number; lease?: string; queue_timeout?: number | null } } | undefined> {
    const row = this.newRow(job as NewJob, now);
    const [answer] = await this.db.autocommit!<{ seq: string; max_retries: number; lease?: string; queue_timeout?: number | null }>(
      ...jobInsert('postgres', [row], now, true, maxRetries, claimedBy),
      said,
      claimedBy && 'opened AS (INSERT INTO job_attempts (job_id, run, attempt, worker_id, started_at) SELECT id, lease, 1, worker_id, started_at FROM unit)',
    );
    if (answer === undefined) return undefined;
    row.seq = Number(answer.seq);
    row.max_retries = answer.max_retries;
    return { row, answer };
  }

  /** Decides each group against the ids taken before it, and builds the rows of those let in. */
  private admit(groups: NewJob[][], taken: Set<string>, now: number): { outcomes: Array<JobRow[] | DuplicateJob>; rows: JobRow[] } {
    const rows: JobRow[] = [];
    const outcomes = groups.map((group, g) => {
      const seen = new Set<string>();
      const duplicates = group.filter((j) => taken.has(j.id) || seen.has(j.id) || (seen.add(j.id), false)).map((j) => j.id);
      if (duplicates.length > 0) return new DuplicateJob([...new Set(duplicates)]);
      const accepted = group.map((j) => this.newRow(j, now));
      // The groups after this one may not take its ids; after the last one nothing looks.
      const later = g < groups.length - 1;
      for (const r of accepted) {
        if (later) taken.add(r.id);
        rows.push(r);
      }
      return accepted;
    });
    return { outcomes, rows };
  }

  /**
   * The rows travel as one JSON text and SQLite unpacks them (see jobInsert): binding eleven
   * values a row costs the event loop far more than the INSERT costs SQLite's own thread.
   */
  private async insertRows(sql: Sql, rows: JobRow[], now: number): Promise<void> {
    await sql.run(...jobInsert('sqlite', rows, now));
  }

  private async existingIds(sql: Sql, ids: string[]): Promise<Set<string>> {
    const rows = await sql.rows<{ id: string }>(
      this.db.pick({
        sqlite: 'SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))',
        postgres: 'SELECT id FROM jobs WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))',
      }),
      [JSON.stringify(ids)],
    );
    return new Set(rows.map((r) => r.id));
  }

  private newRow(j: NewJob, now: number): JobRow {
    return {
      id: j.id,
      // On PostgreSQL the identity's value, once stored.
      seq: this.db.dialect === 'sqlite' ? ++this.lastSeq : 0,
      command: wellFormed(j.command),
      state: 'pending',
      attempts: 0,
      max_retries: j.maxRetries,
      priority: j.priority,
      run_at: j.runAt,
      due_at: j.blocked ? BLOCKED_DUE_AT : (j.runAt ?? now),
      timeout_seconds: j.timeoutSeconds,
      backoff_base: j.backoffBase,
      last_error: null,
      exit_code: null,
      worker_id: null,
      lease: 0,
      lease_expires_at: null,
      cancel_requested: 0,
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
      queue: j.queue ?? DEFAULT_QUEUE,
      cwd: j.cwd ?? null,
      env: j.env && Object.keys(j.env).length > 0 ? JSON.stringify(j.env) : null,
    };
  }

  async findById(id: string): Promise<JobRow | undefined> {
    const [row] = await this.db.rows<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [id]);
    return row;
  }

  async findAttempts(id: string): Promise<AttemptRow[]> {
    return this.db.rows<AttemptRow>(`SELECT ${ATTEMPT_COLUMNS} FROM job_attempts WHERE job_id = ? ORDER BY run`, [id]);
  }

  /**
   * Newest first, by keyset on `seq` so every page costs the same at any depth. `next` is the
   * cursor of the following page, or null after the last one.
   *
   * A search by part of the command cannot use an index, so one page scans at most
   * SEARCH_WINDOW rows; when it finds fewer than `limit` matches there, `next` continues the scan
   * where it stopped. A page therefore costs the same at a million jobs, and paging on finds
   * every match. An exact id match is looked up by key and shown first, on the first page.
   */
  async list(filter: ListFilter): Promise<{ rows: JobRow[]; next: number | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.queue !== undefined) {
      where.push('queue = ?');
      params.push(filter.queue);
    }
    if (filter.state) {
      where.push('state = ?');
      params.push(filter.state);
    }
    if (filter.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(filter.beforeSeq);
    }
    const scope = where.length ? `WHERE ${where.join(' AND ')}` : '';
    if (!filter.search) {
      const rows = await this.db.rows<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs ${scope} ORDER BY seq DESC LIMIT ?`, [...params, filter.limit]);
      return { rows, next: rows.length === filter.limit ? Number(rows[rows.length - 1].seq) : null };
    }

    const pattern = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const window = `SELECT seq FROM jobs ${scope} ORDER BY seq DESC LIMIT ${SEARCH_WINDOW}`;
    const rows = await this.db.rows<JobRow>(
      // SQLite's LIKE ignores case (of ASCII letters); PostgreSQL's ILIKE does.
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE seq IN (${window}) AND id <> ? AND command ${this.db.pick({ sqlite: 'LIKE', postgres: 'ILIKE' })} ? ESCAPE '\\'
       ORDER BY seq DESC LIMIT ?`,
      [...params, filter.search, pattern, filter.limit],
    );
    let next: number | null = null;
    if (rows.length === filter.limit) {
      next = Number(rows[rows.length - 1].seq);
    } else {
      const [edge] = await this.db.rows<{ seq: number | null; n: number }>(`SELECT MIN(seq) AS seq, COUNT(*) AS n FROM (${window}) AS w`, params);
      if (Number(edge?.n ?? 0) === SEARCH_WINDOW) next = Number(edge.seq);
    }
    if (filter.beforeSeq === undefined) {
      const exact = await this.findById(filter.search);
      if (exact && (!filter.state || exact.state === filter.state) && (filter.queue === undefined || exact.queue === filter.queue)) rows.unshift(exact);
    }
    return { rows, next };
  }

  async countByState(): Promise<Record<JobState, number>> {
    const rows = await this.db.rows<{ state: JobState; n: number }>(
      this.db.pick({ sqlite: 'SELECT state, n FROM job_counts', postgres: 'SELECT state, SUM(n) AS n FROM job_counts GROUP BY state' }),
    );
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of rows) counts[r.state] = Number(r.n);
    return counts;
  }

  /**
   * The one place that decides which job a worker gets: due jobs only, highest priority first,
   * then oldest due time, then creation. One statement, so the choice and the change are atomic.
   *
   * Each claimed run gets its fencing value (`lease`, the run's number) from `run_sequence`, a
   * counter for the life of the queue that `reset` and purges never touch: no run of a deleted
   * job, nor an earlier run of this one, can hold the same (id, lease) as a newer run. The
   * claim opens each run's attempt row in the same statement (on SQLite the trigger
   * jobs_claimed_attempt), and the counter moves past it as the row goes in (the trigger
   * job_attempts_run_sequence).
   *
   * The plan is pinned (SQLite): without statistics the planner takes `state IN (...)` for
   * selective, reads every waiting job through jobs_state_seq and sorts them — 430 ms a claim
   * with a million pending jobs. INDEXED BY reads jobs_claimable in claim order and stops after
   * `limit` rows; the unary `+` keeps the outer state check from choosing an index, so the
   * update finds its rows by primary key. It reads only the priorities `claimLevels` names, each
   * from its first due job on, so jobs not yet due at a higher priority are skipped, not read
   * one by one. test/query-plans.e2e-spec.ts holds these plans.
   */
  async claimNext(sql: Sql, workerId: string, now: number, leaseUntil: number, limit: number, scope?: ClaimScope): Promise<JobRow[]> {
    if (scope) return inClaimOrder(await this.claimScoped(sql, workerId, now, leaseUntil, limit, scope));
    const set = `SET state = 'processing', attempts = attempts + 1,
         lease = ${this.db.pick({ sqlite: '(SELECT last FROM run_sequence WHERE id = 1) + picked.n', postgres: "nextval('run_numbers')" })},
         worker_id = ?1, lease_expires_at = ?2, started_at = ?3, updated_at = ?4, finished_at = NULL, exit_code = NULL`;
    const rows = await sql.rows<JobRow>(
      this.db.pick({
        sqlite: `WITH RECURSIVE ${claimLevels('levels', 'jobs_claimable', '', '?5', '?6')}
          UPDATE jobs ${set}
          FROM (SELECT id AS picked_id, row_number() OVER () AS n FROM (
            SELECT id FROM jobs INDEXED BY jobs_claimable
            WHERE state IN (${sqlStates('claim')}) AND priority IN (SELECT p FROM levels) AND due_at <= ?5
            ORDER BY priority DESC, due_at, seq LIMIT ?6)) AS picked
          WHERE jobs.id = picked.picked_id AND +jobs.state IN (${sqlStates('claim')}) AND jobs.cancel_requested = 0
          RETURNING ${JOB_COLUMNS}`,
        // Rows another replica is claiming are locked: skipped, not waited for. Fencing values
        // come from a sequence: replicas claiming at once never wait on one counter row.
        // The CTE is evaluated once (a subquery joined in FROM could be scanned again per row,
        // each scan locking further rows).
        postgres: postgresClaim(
          `picked AS MATERIALIZED (
            SELECT id AS picked_id FROM jobs WHERE state IN (${sqlStates('claim')}) AND due_at <= $5
            ORDER BY priority DESC, due_at, seq LIMIT $6 FOR UPDATE SKIP LOCKED)`,
          set,
        ),
      }),
      [workerId, leaseUntil, now, now, now, limit],
    );
    return inClaimOrder(rows);
  }

  /**
   * The claim when some queues are restricted: the next `slots` jobs of each queue of the scope
   * (through jobs_queue_claimable, a range per queue, so a long backlog of a paused or full
   * queue is never walked), merged in claim order and cut at `limit`.
   *
   * The caller has counted the limited queues' running jobs under their lock (see
   * QueuesRepository.claimScope), in this same transaction, so no other claim can take their
   * slots meanwhile. On PostgreSQL rows locked by another replica's claim are skipped as in the
   * plain claim; rows picked here but cut by the merge stay locked only until this commit.
   */
  private async claimScoped(sql: Sql, workerId: string, now: number, leaseUntil: number, limit: number, scope: ClaimScope): Promise<JobRow[]> {
    if (scope.takes.length === 0) return [];
    const claimable = `state IN (${sqlStates('claim')}) AND due_at <= ?3`;
    const order = 'ORDER BY priority DESC, due_at, seq';
    const set = `SET state = 'processing', attempts = attempts + 1,
         lease = ${this.db.pick({ sqlite: '(SELECT last FROM run_sequence WHERE id = 1) + picked.n', postgres: "nextval('run_numbers')" })},
         worker_id = ?1, lease_expires_at = ?2, started_at = ?3, updated_at = ?3, finished_at = NULL, exit_code = NULL`;
    const params: unknown[] = [workerId, leaseUntil, now, limit];
    if (this.db.dialect === 'postgres') {
      params.push(JSON.stringify(scope.takes));
      return sql.rows<JobRow>(
        postgresClaim(
          `taken AS MATERIALIZED (
            SELECT c.id, c.priority, c.due_at, c.seq FROM jsonb_to_recordset(?5::jsonb) AS q (queue varchar, slots integer)
            CROSS JOIN LATERAL (
              SELECT id, priority, due_at, seq FROM jobs WHERE queue = q.queue AND ${claimable} ${order} LIMIT q.slots FOR UPDATE SKIP LOCKED
            ) AS c),
          picked AS (SELECT id AS picked_id FROM taken ${order} LIMIT ?4)`,
          set,
        ),
        params,
      );
    }
    // SQLite has no LATERAL: one term a queue (at most `limit` of them, see claimScope).
    const levels: string[] = [];
    const terms = scope.takes.map((c, i) => {
      params.push(c.queue, c.slots);
      const [queue, slots] = [`?${params.length - 1}`, `?${params.length}`];
      levels.push(claimLevels(`levels_${i}`, 'jobs_queue_claimable', `queue = ${queue} AND `, '?3', slots));
      return `SELECT * FROM (SELECT id, priority, due_at, seq FROM jobs INDEXED BY jobs_queue_claimable
        WHERE queue = ${queue} AND priority IN (SELECT p FROM levels_${i}) AND ${claimable} ${order} LIMIT ${slots})`;
    });
    return sql.rows<JobRow>(
      `WITH RECURSIVE ${levels.join(',\n')}
      UPDATE jobs ${set}
        FROM (SELECT id AS picked_id, row_number() OVER () AS n FROM (
          SELECT id FROM (${terms.join(' UNION ALL ')}) ${order} LIMIT ?4)) AS picked
        WHERE jobs.id = picked.picked_id AND +jobs.state IN (${sqlStates('claim')}) AND jobs.cancel_requested = 0
        RETURNING ${JOB_COLUMNS}`,
      params,
    );
  }

  /** The earliest time a job becomes due, or undefined when none waits (jobs waiting on others never become due by time). */
  async nextDueAt(): Promise<number | undefined> {
    const [row] = await this.db.rows<{ due_at: number | null }>(
      `SELECT MIN(due_at) AS due_at FROM jobs ${this.db.pick({ sqlite: 'INDEXED BY jobs_due', postgres: '' })} WHERE state IN (${sqlStates('claim')}) AND due_at < ${BLOCKED_DUE_AT}`,
    );
    return row?.due_at === null || row?.due_at === undefined ? undefined : Number(row.due_at);
  }

  /** Extends a running job's lease; the row tells whether a cancel was asked. */
  async extendLease(sql: Sql, id: string, lease: number, until: number): Promise<{ cancel_requested: number } | undefined> {
    const [row] = await sql.rows<{ cancel_requested: number }>(
      `UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease = ? AND state = 'processing' RETURNING cancel_requested`,
      [until, id, lease],
    );
    return row;
  }

  /**
   * Completes the runs that exited 0, in one statement whatever their number: the jobs still held
   * by exactly that run (id and lease) become completed, and those runs' attempts are closed (on
   * SQLite by the trigger jobs_completed_attempt, on PostgreSQL by the statement's second part).
   * Returns the ids completed; a run missing from the answer had lost its lease.
   */
  async completeRuns(sql: Sql, runs: Array<{ id: string; lease: number }>, now: number): Promise<string[]> {
    return (await this.completeRunsFollowed(sql, runs, now)).completed;
  }

  /**
   * completeRuns, and which of the jobs completed others may wait on (`followed`), for the report
   * to release only those (JobDependenciesRepository.release), not look for every report.
   *
   * On SQLite the completing statement reads it (one writer: nothing can add a waiting job
   * between this statement and the release). On PostgreSQL every completed job counts: another
   * replica may commit a job waiting on one of them while this statement runs, unseen by its
   * snapshot, and only the release's own later statement, after its lock, is sure to see it.
   */
  async completeRunsFollowed(sql: Sql, runs: Array<{ id: string; lease: number }>, now: number): Promise<{ completed: string[]; followed: string[] }> {
    if (runs.length === 0) return { completed: [], followed: [] };
    const set = `SET state = 'completed', exit_code = 0, last_error = NULL, finished_at = ?, updated_at = ?, lease_expires_at = NULL`;
    const done = await sql.rows<{ id: string; lease: number; followed?: number }>(
      ...this.db.pick<[string, unknown[]]>({
        sqlite: [
          `UPDATE jobs ${set}
           WHERE id IN (${runs.map(() => '?').join(', ')}) AND (id, lease) IN (VALUES ${runs.map(() => '(?, ?)').join(', ')})
             AND state IN (${sqlStates('complete')})
           RETURNING id, lease, EXISTS (SELECT 1 FROM job_dependencies d WHERE d.depends_on = jobs.id) AS followed`,
          [now, now, ...runs.map((r) => r.id), ...runs.flatMap((r) => [r.id, r.lease])],
        ],
        postgres: [
          `WITH done AS (
             UPDATE jobs ${set}
             WHERE (id, lease) IN (SELECT * FROM unnest(?::varchar[], ?::integer[])) AND state IN (${sqlStates('complete')})
             RETURNING id, lease, finished_at),
           closed AS (
             UPDATE job_attempts a SET finished_at = done.finished_at, exit_code = 0, error = NULL
             FROM done WHERE a.job_id = done.id AND a.run = done.lease AND a.finished_at IS NULL)
           SELECT id, lease FROM done`,
          [now, now, runs.map((r) => r.id), runs.map((r) => r.lease)],
        ],
      }),
    );
    const completed = done.map((r) => r.id);
    return { completed, followed: this.db.dialect === 'sqlite' ? done.filter((r) => r.followed === 1).map((r) => r.id) : completed };
  }

  async scheduleRetry(sql: Sql, id: string, lease: number, now: number, dueAt: number, outcome: AttemptOutcome): Promise<boolean> {
    const changed = await sql.run(
      `UPDATE jobs SET state = 'failed', due_at = ?, exit_code = ?, last_error = ?, finished_at = ?, updated_at = ?, lease_expires_at = NULL
       WHERE id = ? AND lease = ? AND state IN (${sqlStates('scheduleRetry')})`,
      [dueAt, outcome.exitCode, outcome.error, now, now, id, lease],
    );
    return changed === 1;
  }

  async bury(sql: Sql, id: string, lease: number, now: number, outcome: AttemptOutcome): Promise<boolean> {
    const changed = await sql.run(
      `UPDATE jobs SET state = 'dead', exit_code = ?, last_error = ?, finished_at = ?, updated_at = ?, lease_expires_at = NULL
       WHERE id = ? AND lease = ? AND state IN (${sqlStates('bury')})`,
      [outcome.exitCode, outcome.error, now, now, id, lease],
    );
    return changed === 1;
  }

  async finishAttempt(sql: Sql, id: string, run: number, now: number, outcome: AttemptOutcome): Promise<void> {
    await sql.run(`UPDATE job_attempts SET finished_at = ?, exit_code = ?, error = ? WHERE job_id = ? AND run = ? AND finished_at IS NULL`, [
      now,
      outcome.exitCode,
      outcome.error,
      id,
      run,
    ]);
  }

  async cancelWaiting(sql: Sql, id: string, now: number): Promise<JobRow | undefined> {
    const [row] = await sql.rows<JobRow>(
      `UPDATE jobs SET state = 'dead', last_error = 'cancelled', finished_at = ?, updated_at = ?
       WHERE id = ? AND state IN (${sqlStates('cancel')}) RETURNING ${JOB_COLUMNS}`,
      [now, now, id],
    );
    return row;
  }

  async requestCancel(sql: Sql, id: string, now: number): Promise<JobRow | undefined> {
    const [row] = await sql.rows<JobRow>(
      `UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND state = 'processing' RETURNING ${JOB_COLUMNS}`,
      [now, id],
    );
    return row;
  }

  async retryDead(sql: Sql, id: string, now: number): Promise<JobRow | undefined> {
    const [row] = await sql.rows<JobRow>(
      `UPDATE jobs SET state = 'pending', attempts = 0, last_error = NULL, exit_code = NULL, cancel_requested = 0,
         due_at = ?, finished_at = NULL, updated_at = ?
       WHERE id = ? AND state IN (${sqlStates('retryDead')}) RETURNING ${JOB_COLUMNS}`,
      [now, now, id],
    );
    return row;
  }

  async retryAllDead(sql: Sql, now: number): Promise<number> {
    return sql.run(
      `UPDATE jobs SET state = 'pending', attempts = 0, last_error = NULL, exit_code = NULL, cancel_requested = 0,
         due_at = ?, finished_at = NULL, updated_at = ?
       WHERE state IN (${sqlStates('retryDead')})`,
      [now, now],
    );
  }

  async findByIds(sql: Sql, ids: string[]): Promise<JobRow[]> {
    if (ids.length === 0) return [];
    return sql.rows<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
  }

  /**
   * A job its worker claimed but never started (the worker was stopping) goes back to the queue
   * as if it had not been claimed: the attempt is not counted and its empty run is forgotten.
   * A job whose cancel was asked meanwhile never starts again: it goes to the DLQ as cancelled.
   */
  async release(sql: Sql, id: string, lease: number, now: number): Promise<boolean> {
    const changed = await sql.run(
      `UPDATE jobs SET state = CASE WHEN cancel_requested = 0 THEN 'pending' ELSE 'dead' END,
         last_error = CASE WHEN cancel_requested = 0 THEN last_error ELSE 'cancelled' END,
         finished_at = CASE WHEN cancel_requested = 0 THEN finished_at ELSE ?1 END,
         attempts = attempts - 1, worker_id = NULL, lease_expires_at = NULL, started_at = NULL, updated_at = ?1
       WHERE id = ?2 AND lease = ?3 AND state IN (${sqlStates('release')})`,
      [now, id, lease],
    );
    if (changed === 1) await sql.run('DELETE FROM job_attempts WHERE job_id = ? AND run = ?', [id, lease]);
    return changed === 1;
  }

  /** Jobs the given workers are running now. */
  async findRunningOf(workerIds: string[]): Promise<Array<Pick<JobRow, 'id' | 'command' | 'worker_id' | 'started_at' | 'lease'>>> {
    if (workerIds.length === 0) return [];
    return this.db.rows(
      `SELECT id, command, worker_id, started_at, lease FROM jobs WHERE state = 'processing' AND worker_id IN (${workerIds.map(() => '?').join(', ')})
       ORDER BY started_at`,
      workerIds,
    );
  }

  /** The newest run of a job, or undefined when it never ran. */
  async latestRun(id: string): Promise<number | undefined> {
    const [row] = await this.db.rows<{ run: number | null }>('SELECT MAX(run) AS run FROM job_attempts WHERE job_id = ?', [id]);
    return row?.run === null || row?.run === undefined ? undefined : Number(row.run);
  }

  async findExpiredLeases(now: number, limit: number): Promise<JobRow[]> {
    return this.db.rows<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs ${this.db.pick({ sqlite: 'INDEXED BY jobs_lease_expiry', postgres: '' })} WHERE state = 'processing' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?`,
      [now, limit],
    );
  }

  // Metrics. Attempts are counted where they finished, through the job_attempts_finished index,
  // so the cost follows the window's traffic, not the table's size. An attempt succeeded when its
  // command exited 0 with no error: the same rule that moves its job to completed.

  /** Finished attempts per minute since `since`: bucket i covers [since + i min, since + (i+1) min). */
  async finishedAttemptsPerMinute(since: number, until: number): Promise<Array<{ bucket: number; succeeded: number; failed: number }>> {
    const rows = await this.db.rows<{ bucket: number; succeeded: number; failed: number }>(
      `SELECT CAST((finished_at - ?) / 60000 AS INTEGER) AS bucket,
         SUM(CASE WHEN ${SUCCEEDED} THEN 1 ELSE 0 END) AS succeeded,
         SUM(CASE WHEN ${SUCCEEDED} THEN 0 ELSE 1 END) AS failed
       FROM job_attempts WHERE finished_at >= ? AND finished_at < ? GROUP BY bucket ORDER BY bucket`,
      [since, since, until],
    );
    return rows.map((r) => ({ bucket: Number(r.bucket), succeeded: Number(r.succeeded), failed: Number(r.failed) }));
  }

  /**
   * Run times of the attempts finished since `since`, newest first, at most `limit` of them: a
   * bounded sample walked down the finished_at index, so a busy hour costs no more than a quiet one.
   */
  async recentDurations(since: number, limit: number): Promise<number[]> {
    const rows = await this.db.rows<{ v: number }>(
      'SELECT finished_at - started_at AS v FROM job_attempts WHERE finished_at >= ? ORDER BY finished_at DESC LIMIT ?',
      [since, limit],
    );
    return rows.map((r) => Number(r.v));
  }

  /**
   * Wait from due to start of the first runs finished since `since`, newest first, at most
   * `limit`. Only a job's first run (its lowest run number) still knows when it was due: its
   * run_at, or its creation when later (a run_at in the past makes a job due when it is
   * enqueued); the due time of later runs is overwritten.
   */
  async recentFirstStartDelays(since: number, limit: number): Promise<number[]> {
    const rows = await this.db.rows<{ v: number }>(
      `SELECT ${this.db.pick({ sqlite: 'MAX', postgres: 'GREATEST' })}(0, a.started_at - ${this.db.pick({ sqlite: 'MAX', postgres: 'GREATEST' })}(j.created_at, COALESCE(j.run_at, j.created_at))) AS v
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE a.finished_at >= ? AND a.run = (SELECT MIN(f.run) FROM job_attempts f WHERE f.job_id = a.job_id)
       ORDER BY a.finished_at DESC LIMIT ?`,
      [since, limit],
    );
    return rows.map((r) => Number(r.v));
  }

  /** The due time of the job that has waited longest among those due now, or undefined. */
  async oldestDueAt(now: number): Promise<number | undefined> {
    const [row] = await this.db.rows<{ due_at: number | null }>(
      `SELECT MIN(due_at) AS due_at FROM jobs ${this.db.pick({ sqlite: 'INDEXED BY jobs_due', postgres: '' })} WHERE state IN (${sqlStates('claim')}) AND due_at <= ?`,
      [now],
    );
    return row?.due_at === null || row?.due_at === undefined ? undefined : Number(row.due_at);
  }

  /** Deletes finished jobs (and their attempts) of one state that finished before a time. */
  async purgeFinished(sql: Sql, state: 'completed' | 'dead', finishedBefore: number): Promise<number> {
    return sql.run(`DELETE FROM jobs WHERE state = ? AND finished_at <= ? AND state IN (${sqlStates('purge')})`, [state, finishedBefore]);
  }

  /**
   * Deletes up to `limit` completed or dead jobs that finished before a time, oldest first
   * through the jobs_finished index; small slices keep each write transaction short.
   */
  async pruneFinishedSlice(sql: Sql, finishedBefore: number, limit: number): Promise<number> {
    return sql.run(
      `DELETE FROM jobs WHERE id IN (
         SELECT id FROM jobs WHERE state IN (${sqlStates('purge')}) AND finished_at < ? ORDER BY finished_at LIMIT ?)`,
      [finishedBefore, limit],
    );
  }
}

/** Splits rows so that each INSERT carries at most INSERT_CHUNK_CHARS of commands. */
function insertChunks(rows: JobRow[]): JobRow[][] {
  const chunks: JobRow[][] = [];
  let chunk: JobRow[] = [];
  let chars = 0;
  for (const r of rows) {
    if (chunk.length > 0 && chars + r.command.length > INSERT_CHUNK_CHARS) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(r);
    chars += r.command.length;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * A lone UTF-16 surrogate has no UTF-8 form. Bound as a parameter it used to be stored as U+FFFD;
 * inside JSON, SQLite would store bytes that are not UTF-8 at all. Replacing it here keeps the
 * stored command and the one answered the same.
 */
function wellFormed(text: string): string {
  const s = text as string & { isWellFormed(): boolean; toWellFormed(): string };
  return s.isWellFormed() ? text : s.toWellFormed();
}

/**
 * SQLite: the priorities a claim reads (a recursive CTE, `name (p)`), highest first, down to the
 * one where `limit` due jobs have been found (`due`: the claim's time). Each step finds the next
 * lower priority among the claimable jobs (`scope` narrows them, a queue) and counts that
 * priority's due jobs, at most `limit`: two searches of `index`, whose columns after `scope`'s
 * must be priority DESC, due_at. Walking the index in claim order instead read every job not yet
 * due at a higher priority before the first due one: 34 ms a claim behind 400,000 scheduled
 * jobs. Listing every priority of the claimable jobs instead costs a search for each, however
 * few jobs the claim needs. The worst case left: many priorities above the due jobs that each
 * hold only jobs not yet due, two searches for each of them where the walk read each of their jobs.
 */
function claimLevels(name: string, index: string, scope: string, due: string, limit: string): string {
  const claimable = `${scope}state IN (${sqlStates('claim')})`;
  const next = (below: string) => `(SELECT priority FROM jobs INDEXED BY ${index} WHERE ${claimable}${below} ORDER BY priority DESC LIMIT 1)`;
  return `${name}_walk (p, found) AS (
      SELECT ${next('')}, 0
      UNION ALL
      SELECT ${next(` AND priority < ${name}_walk.p`)},
        ${name}_walk.found + (SELECT COUNT(*) FROM (
          SELECT 1 FROM jobs INDEXED BY ${index} WHERE ${claimable} AND priority = ${name}_walk.p AND due_at <= ${due} LIMIT ${limit}))
      FROM ${name}_walk WHERE ${name}_walk.p IS NOT NULL AND ${name}_walk.found < ${limit}),
    ${name} (p) AS (SELECT p FROM ${name}_walk WHERE p IS NOT NULL)`;
}

/**
 * A claim on PostgreSQL: `picking` defines `picked` (the ids to claim, locked), the update takes
 * them, and the same statement opens their attempts (SQLite's trigger jobs_claimed_attempt does
 * it there), so a claim is one round trip.
 */
function postgresClaim(picking: string, set: string): string {
  return `WITH ${picking},
    claimed AS (
      UPDATE jobs ${set}
      FROM picked WHERE jobs.id = picked.picked_id AND jobs.cancel_requested = 0
      RETURNING ${JOB_COLUMNS}),
    opened AS (
      INSERT INTO job_attempts (job_id, run, attempt, worker_id, started_at)
      SELECT id, lease, attempts, worker_id, started_at FROM claimed)
    SELECT ${JOB_COLUMNS} FROM claimed`;
}

/** Claimed rows come back in no set order: highest priority first, then oldest due, then creation. */
function inClaimOrder(rows: JobRow[]): JobRow[] {
  return rows.sort((a, b) => b.priority - a.priority || a.due_at - b.due_at || a.seq - b.seq);
}
