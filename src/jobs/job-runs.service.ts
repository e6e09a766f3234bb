import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { leaseBudget } from '../common/lease-budget';
import { ConfigService } from '../config/config.service';
import { Announcement, Sql, SqlDatabase, announcing } from '../database/sql';
import { AttemptEnd, judgeAttempt } from './attempt-policy';
import { BackoffPolicy } from './backoff';
import { JobDependenciesRepository } from './job-dependencies.repository';
import { JobOutputRepository } from './job-output.repository';
import { DraftJob, JobRow } from './job-row';
import { JobSignals } from './job-signals';
import { JobsRepository } from './jobs.repository';
import { LeaseWatch } from './lease-watch';
import { ReportAnswersRepository } from './report-answers.repository';
import { QueueRow } from '../queues/queue.entity';
import { QueueSettings, QueuesRepository } from '../queues/queues.repository';

/** How long the answer to a report is kept for a worker that sends the report again. */
const REPORT_ANSWER_KEEP_MS = 60 * 60 * 1000;
/**
 * Old answers are forgotten by every REPORT_ANSWER_PRUNE_EVERY-th report, at most
 * REPORT_ANSWER_PRUNE of them: more than one a report, so the table shrinks back after a burst,
 * and not a statement in each report's transaction.
 */
const REPORT_ANSWER_PRUNE_EVERY = 16;
const REPORT_ANSWER_PRUNE = 4 * REPORT_ANSWER_PRUNE_EVERY;

/** A worker's report as sent: its id, and whether this is the first try of it (see ReportDto.first_try). */
export interface ReportTry {
  id: string;
  firstTry: boolean;
}

/** A first try whose id already has an answer: it arrived after a later try of the same report. */
class AnsweredAlready extends Error {}

/** A job handed to a worker. `lease` is the fencing value every later message must carry. */
export interface ClaimedJob {
  id: string;
  command: string;
  lease: number;
  attempt: number;
  /** Retries the job may have: a failed attempt number max_retries + 1 sends it to the DLQ. */
  max_retries: number;
  /** The job's own timeout, else the job-timeout setting; null for none. */
  timeout_seconds: number | null;
  /** Absent from services older than named queues. */
  queue?: string;
  /**
   * The directory to run the command in (null: the worker's own), and variables to add to its
   * environment. Optional: a service from before job flows sends neither.
   */
  cwd?: string | null;
  env?: Record<string, string> | null;
}

/** One finished run as its worker reports it. */
export interface RunResult extends AttemptEnd {
  id: string;
  lease: number;
  /** Output not yet sent with an output batch, and the byte offset of its first byte in the run's output. */
  output: Buffer;
  outputOffset: number;
  truncated: boolean;
}

export interface RunRef {
  id: string;
  lease: number;
}

/** Bytes of a run's output from byte `offset` of it: stored once however often they are sent. */
export interface OutputChunk extends RunRef {
  offset: number;
  data: Buffer;
  truncated: boolean;
}

/**
 * The life of a job on a worker: claim, heartbeat, output, report, and recovery of runs whose
 * worker vanished. Every change is a compare-and-set on the job's `lease` (incremented by each
 * claim), so a message from a run that lost its lease changes nothing and is reported back.
 */
@Injectable()
export class JobRunsService {
  /** Reports with an id this service has taken, for REPORT_ANSWER_PRUNE_EVERY. */
  private reportsKept = 0;

  constructor(
    private readonly db: SqlDatabase,
    private readonly jobs: JobsRepository,
    private readonly output: JobOutputRepository,
    private readonly answers: ReportAnswersRepository,
    private readonly config: ConfigService,
    private readonly signals: JobSignals,
    private readonly clock: Clock,
    private readonly watch: LeaseWatch,
    private readonly queues: QueuesRepository,
    private readonly dependencies: JobDependenciesRepository,
  ) {}

  // Times are read inside each unit of work, when it runs: read before it waited in the write
  // queue (behind a stalled disk, say), a lease would start in the past and might be over on arrival.

  /** `served`: the queues the worker takes jobs from; undefined for all. */
  claim(workerId: string, limit: number, served?: string[]): Promise<ClaimedJob[]> {
    return this.db.write((sql) => this.claimWithin(sql, workerId, limit, served));
  }

  /**
   * A claim inside a unit of work of the caller's (an enqueue handing its jobs over, see
   * ClaimHandoff), with the queue settings that unit read (`queues`), else read here.
   */
  async claimWithin(sql: Sql, workerId: string, limit: number, served?: string[], queues?: QueueSettings): Promise<ClaimedJob[]> {
    const now = this.clock.now();
    queues ??= await this.queues.settings(sql);
    const rows = this.heard(await this.claimIn(sql, queues, workerId, served, now, limit));
    for (const r of rows) this.signals.jobChanged(sql, r.id);
    return rows.map((r) => this.toClaimed(r, queues.get(r.queue)?.job_timeout));
  }

  /**
   * A new job stored already claimed by `workerId`, for that worker's claim waiting here, by one
   * statement (PostgreSQL: JobsRepository.insertClaimed); undefined, with nothing stored, when
   * it may not go that way. Answers the row as enqueued and the job as claimed.
   */
  async insertClaimed(job: DraftJob, workerId: string, said: Announcement[]): Promise<{ row: JobRow; claimed: ClaimedJob } | undefined> {
    const now = this.clock.now();
    this.signals.jobChanged(announcing(said), job.id);
    const stored = await this.jobs.insertClaimed(job, now, this.config.get('max-retries'), { workerId, leaseUntil: this.leaseUntil(now) }, said);
    if (stored === undefined) return undefined;
    const [run] = this.heard([{ ...stored.row, state: 'processing', attempts: 1, lease: stored.lease, worker_id: workerId }]);
    return { row: stored.row, claimed: this.toClaimed(run, stored.queueTimeout) };
  }

  /** Claims in a unit of work, within the queues' pauses and limits (see QueuesRepository.claimScope). */
  private async claimIn(sql: Sql, queues: QueueSettings, workerId: string, served: string[] | undefined, now: number, limit: number): Promise<JobRow[]> {
    const scope = await this.queues.claimScope(sql, queues, served, now, limit);
    return this.jobs.claimNext(sql, workerId, now, this.leaseUntil(now), limit, scope);
  }

  /**
   * Records finished runs, puts back runs that never started, then claims up to `claimLimit`
   * next jobs: one unit of work, one commit, one round trip for the worker.
   *
   * With a `report` id, the answer is kept (REPORT_ANSWER_KEEP_MS): the same report sent again
   * changes nothing and gets the same answer, the same claims included. A first try is not
   * looked up (nothing can have been kept for an id never sent); should one arrive after a later
   * try of it all the same, its answer's key is taken, its unit is undone, and it is answered
   * from the kept answer like any other try.
   */
  async finish(
    workerId: string,
    results: RunResult[],
    released: RunRef[],
    claimLimit: number,
    report?: ReportTry,
    served?: string[],
  ): Promise<{ refused: string[]; jobs: ClaimedJob[] }> {
    try {
      return await this.finishOnce(workerId, results, released, claimLimit, report, served);
    } catch (e) {
      if (!(e instanceof AnsweredAlready)) throw e;
      return this.finishOnce(workerId, results, released, claimLimit, { id: report!.id, firstTry: false }, served);
    }
  }

  private finishOnce(
    workerId: string,
    results: RunResult[],
    released: RunRef[],
    claimLimit: number,
    report: ReportTry | undefined,
    served: string[] | undefined,
  ): Promise<{ refused: string[]; jobs: ClaimedJob[] }> {
    const outputLimit = this.config.get('output-limit');
    // Decided outside the unit of work, which may run more than once.
    const pruning = report !== undefined && ++this.reportsKept % REPORT_ANSWER_PRUNE_EVERY === 0;
    return this.db.write(async (sql) => {
      if (report !== undefined && !report.firstTry) {
        const given = await this.answers.find<{ refused: string[]; jobs: ClaimedJob[] }>(sql, report.id);
        if (given) return given;
      }
      const now = this.clock.now();
      const queues = await this.queues.settings(sql);
      const refused: string[] = [];
      let requeued = false;
      // Jobs that waited on those finished here: released (due now) or killed with them.
      const followers: string[] = [];
      const failures = results.filter((r) => r.error || r.signal || r.exitCode !== 0);
      const current = new Map((await this.jobs.findByIds(sql, failures.map((r) => r.id))).map((row) => [row.id, row]));
      for (const r of results) {
        if (r.output.length > 0 || r.truncated) await this.output.appendOutput(sql, r.id, r.lease, r.outputOffset, r.output, outputLimit, r.truncated);
      }
      const succeeded = results.filter((r) => !failures.includes(r));
      const { completed: done, followed } = await this.jobs.completeRunsFollowed(sql, succeeded, now);
      const completed = new Set(done);
      // A slot of a limited queue may be free again: claims waiting for one may take it now.
      if (completed.size + failures.length > 0 && [...queues.values()].some((q) => Number(q.concurrency) > 0)) requeued = true;
      for (const r of succeeded) {
        if (completed.has(r.id)) this.watch.ended(r.id, r.lease);
        else refused.push(r.id);
      }
      followers.push(...(await this.dependencies.release(sql, followed, now)));
      for (const r of failures) {
        const row = current.get(r.id);
        const verdict = row ? await this.fail(sql, row, r.lease, r, this.backoff(queues.get(row.queue)), now, followers) : undefined;
        if (verdict === undefined) refused.push(r.id);
        if (verdict === 'retry') requeued = true;
      }
      for (const r of released) {
        if (await this.jobs.release(sql, r.id, r.lease, now)) {
          requeued = true;
          this.watch.ended(r.id, r.lease);
          // Released with a cancel asked meanwhile, it went to the DLQ instead.
          followers.push(...(await this.dependencies.killDependents(sql, [r.id], now)).map((k) => k.id));
        } else refused.push(r.id);
      }
      const claimed = claimLimit > 0 ? this.heard(await this.claimIn(sql, queues, workerId, served, now, claimLimit)) : [];
      const answer = { refused, jobs: claimed.map((r) => this.toClaimed(r, queues.get(r.queue)?.job_timeout)) };
      if (report !== undefined) {
        if (!(await this.answers.save(sql, report.id, workerId, answer, now))) throw new AnsweredAlready();
        if (pruning) await this.answers.prune(sql, now - REPORT_ANSWER_KEEP_MS, REPORT_ANSWER_PRUNE);
      }
      for (const id of [...results.map((r) => r.id), ...released.map((r) => r.id), ...claimed.map((r) => r.id), ...followers]) this.signals.jobChanged(sql, id);
      // Waiting claims sleep until the earliest due time they know of; a new retry may be earlier,
      // and a job released from waiting is due now.
      if (requeued || followers.length > 0) this.signals.workAvailable(sql);
      return answer;
    });
  }

  /** Extends the leases of running jobs; says which were cancelled and which this worker no longer holds. */
  async heartbeat(running: RunRef[]): Promise<{ cancel: string[]; lost: string[] }> {
    if (running.length === 0) return { cancel: [], lost: [] };
    // Heard from when it arrived, not when its write ran: a heartbeat that waited behind a
    // stalled disk still shows the worker alive then.
    const arrived = this.clock.monotonic();
    return this.db.write(async (sql) => {
      const now = this.clock.now();
      const cancel: string[] = [];
      const lost: string[] = [];
      for (const r of running) {
        const row = await this.jobs.extendLease(sql, r.id, r.lease, this.leaseUntil(now));
        if (!row) lost.push(r.id);
        else {
          this.watch.heardFrom(r.id, r.lease, arrived);
          if (Number(row.cancel_requested)) cancel.push(r.id);
        }
      }
      return { cancel, lost };
    });
  }

  /** Appends output of running jobs; returns the ids whose run is over or no longer theirs. */
  async appendOutput(chunks: OutputChunk[]): Promise<string[]> {
    const limit = this.config.get('output-limit');
    const refused = await this.db.write(async (sql) => {
      const refused: string[] = [];
      for (const c of chunks) {
        if (await this.output.appendOutput(sql, c.id, c.lease, c.offset, c.data, limit, c.truncated)) this.signals.jobChanged(sql, c.id);
        else refused.push(c.id);
      }
      return refused;
    });
    return refused;
  }

  /**
   * Sends every running job whose worker has gone silent through the failure path as "worker
   * lost": retried after backoff, or dead when no retries are left. A job is recovered only when
   * both clocks agree: its stored expiry is more than the reap grace past (wall clock, read when
   * the write runs), and the service has not heard from the run for the lease and that grace
   * (monotonic clock, see LeaseWatch). A jump of the wall clock, or a stalled database that held
   * heartbeats back, recovers nothing whose worker kept sending them.
   *
   * Idempotent: a job is re-read inside the unit of work, so a heartbeat that got in first keeps
   * it running.
   */
  async requeueExpired(now: number, limit = 500): Promise<number> {
    const { leaseMs, reapGraceMs } = leaseBudget(this.leaseMs());
    const expired = (await this.jobs.findExpiredLeases(now - reapGraceMs, limit)).filter((r) => this.watch.silentFor(r.id, Number(r.lease)) > leaseMs + reapGraceMs);
    if (expired.length === 0) return 0;
    const recovered = await this.db.write(async (sql) => {
      const at = this.clock.now();
      const queues = await this.queues.settings(sql);
      const ids: string[] = [];
      const followers: string[] = [];
      for (const row of await this.jobs.findByIds(sql, expired.map((r) => r.id))) {
        if (row.state !== 'processing' || row.lease_expires_at === null || Number(row.lease_expires_at) + reapGraceMs >= at) continue;
        if (this.watch.silentFor(row.id, Number(row.lease)) <= leaseMs + reapGraceMs) continue;
        if (await this.fail(sql, row, Number(row.lease), { exitCode: null, signal: null, error: 'worker lost' }, this.backoff(queues.get(row.queue)), at, followers)) ids.push(row.id);
      }
      for (const id of [...ids, ...followers]) this.signals.jobChanged(sql, id);
      if (ids.length > 0) this.signals.workAvailable(sql);
      return ids;
    });
    return recovered.length;
  }

  /** Records the runs just claimed as heard from now. */
  private heard(rows: JobRow[]): JobRow[] {
    const at = this.clock.monotonic();
    for (const r of rows) this.watch.heardFrom(r.id, Number(r.lease), at);
    return rows;
  }

  /**
   * Ends the run `lease` of a job as failed; undefined when that run no longer holds the job. A
   * job that goes dead takes the jobs waiting on it along (their ids are added to `killed`).
   */
  private async fail(
    sql: Sql,
    row: JobRow,
    lease: number,
    end: AttemptEnd,
    backoff: BackoffPolicy,
    now: number,
    killed: string[],
  ): Promise<'retry' | 'bury' | undefined> {
    const verdict = judgeAttempt(row, end, backoff, now);
    const reason = verdict.kind === 'complete' ? 'ended without an exit status' : verdict.reason;
    const outcome = { exitCode: end.exitCode, error: reason };
    const kind = verdict.kind === 'retry' ? 'retry' : 'bury';
    const ok =
      verdict.kind === 'retry'
        ? await this.jobs.scheduleRetry(sql, row.id, lease, now, verdict.dueAt, outcome)
        : await this.jobs.bury(sql, row.id, lease, now, outcome);
    if (!ok) return undefined;
    this.watch.ended(row.id, lease);
    await this.jobs.finishAttempt(sql, row.id, lease, now, outcome);
    if (kind === 'bury') killed.push(...(await this.dependencies.killDependents(sql, [row.id], now)).map((k) => k.id));
    return kind;
  }

  /** The queue's backoff settings where it has them, else the global ones (a job's own backoff_base wins over both, see judgeAttempt). */
  private backoff(queue?: QueueRow): BackoffPolicy {
    return {
      base: queue?.backoff_base ?? this.config.get('backoff-base'),
      maxSeconds: queue?.backoff_max ?? this.config.get('backoff-max'),
      jitter: this.config.get('backoff-jitter'),
    };
  }

  private leaseMs(): number {
    return Math.round(this.config.get('lease-timeout') * 1000);
  }

  private leaseUntil(now: number): number {
    return now + this.leaseMs();
  }

  /** The job's own timeout, else its queue's job-timeout (`queueTimeout`), else the global one. */
  private toClaimed(row: JobRow, queueTimeout: number | null | undefined): ClaimedJob {
    const timeout = row.timeout_seconds ? Number(row.timeout_seconds) : Number(queueTimeout ?? this.config.get('job-timeout'));
    return {
      id: row.id,
      command: row.command,
      lease: Number(row.lease),
      attempt: Number(row.attempts),
      max_retries: Number(row.max_retries),
      timeout_seconds: timeout > 0 ? timeout : null,
      queue: row.queue,
      // Sent only when set: most jobs have neither, and the claim answer stays as it was for them.
      ...(row.cwd ? { cwd: row.cwd } : {}),
      ...(row.env ? { env: JSON.parse(row.env) as Record<string, string> } : {}),
    };
  }
}
