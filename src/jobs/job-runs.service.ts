import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { ConfigService } from '../config/config.service';
import { Sql, SqlDatabase } from '../database/sql';
import { AttemptEnd, judgeAttempt } from './attempt-policy';
import { BackoffPolicy } from './backoff';
import { JobOutputRepository } from './job-output.repository';
import { JobRow } from './job-row';
import { JobSignals } from './job-signals';
import { JobsRepository } from './jobs.repository';

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
  constructor(
    private readonly db: SqlDatabase,
    private readonly jobs: JobsRepository,
    private readonly output: JobOutputRepository,
    private readonly config: ConfigService,
    private readonly signals: JobSignals,
    private readonly clock: Clock,
  ) {}

  async claim(workerId: string, limit: number): Promise<ClaimedJob[]> {
    const now = this.clock.now();
    const rows = await this.db.write((sql) => this.jobs.claimNext(sql, workerId, now, this.leaseUntil(now), limit));
    for (const r of rows) this.signals.jobChanged(r.id);
    return rows.map((r) => this.toClaimed(r));
  }

  /**
   * Records finished runs, puts back runs that never started, then claims up to `claimLimit`
   * next jobs: one unit of work, one commit, one round trip for the worker.
   */
  async finish(workerId: string, results: RunResult[], released: RunRef[], claimLimit: number): Promise<{ refused: string[]; jobs: ClaimedJob[] }> {
    const now = this.clock.now();
    const outputLimit = this.config.get('output-limit');
    const backoff = this.backoff();
    let requeued = false;
    const { refused, claimed } = await this.db.write(async (sql) => {
      const refused: string[] = [];
      const failures = results.filter((r) => r.error || r.signal || r.exitCode !== 0);
      const current = new Map((await this.jobs.findByIds(sql, failures.map((r) => r.id))).map((row) => [row.id, row]));
      for (const r of results) {
        if (r.output.length > 0 || r.truncated) await this.output.appendOutput(sql, r.id, r.lease, r.outputOffset, r.output, outputLimit, r.truncated);
      }
      const succeeded = results.filter((r) => !failures.includes(r));
      const completed = new Set(await this.jobs.completeRuns(sql, succeeded, now));
      for (const r of succeeded) if (!completed.has(r.id)) refused.push(r.id);
      for (const r of failures) {
        const row = current.get(r.id);
        const verdict = row ? await this.fail(sql, row, r.lease, r, backoff, now) : undefined;
        if (verdict === undefined) refused.push(r.id);
        if (verdict === 'retry') requeued = true;
      }
      for (const r of released) {
        if (await this.jobs.release(sql, r.id, r.lease, now)) requeued = true;
        else refused.push(r.id);
      }
      const claimed = claimLimit > 0 ? await this.jobs.claimNext(sql, workerId, now, this.leaseUntil(now), claimLimit) : [];
      return { refused, claimed };
    });
    for (const r of results) this.signals.jobChanged(r.id);
    for (const r of released) this.signals.jobChanged(r.id);
    for (const r of claimed) this.signals.jobChanged(r.id);
    // Waiting claims sleep until the earliest due time they know of; a new retry may be earlier.
    if (requeued) this.signals.workAvailable();
    return { refused, jobs: claimed.map((r) => this.toClaimed(r)) };
  }

  /** Extends the leases of running jobs; says which were cancelled and which this worker no longer holds. */
  async heartbeat(running: RunRef[]): Promise<{ cancel: string[]; lost: string[] }> {
    if (running.length === 0) return { cancel: [], lost: [] };
    const now = this.clock.now();
    return this.db.write(async (sql) => {
      const cancel: string[] = [];
      const lost: string[] = [];
      for (const r of running) {
        const row = await this.jobs.extendLease(sql, r.id, r.lease, this.leaseUntil(now));
        if (!row) lost.push(r.id);
        else if (Number(row.cancel_requested)) cancel.push(r.id);
      }
      return { cancel, lost };
    });
  }

  /** Appends output of running jobs; returns the ids whose run is over or no longer theirs. */
  async appendOutput(chunks: OutputChunk[]): Promise<string[]> {
    const limit = this.config.get('output-limit');
    const refused = await this.db.write(async (sql) => {
      const refused: string[] = [];
      for (const c of chunks) if (!(await this.output.appendOutput(sql, c.id, c.lease, c.offset, c.data, limit, c.truncated))) refused.push(c.id);
      return refused;
    });
    for (const c of chunks) if (!refused.includes(c.id)) this.signals.jobChanged(c.id);
    return refused;
  }

  /**
   * Sends every running job whose lease expired before `now` through the failure path as
   * "worker lost": retried after backoff, or dead when no retries are left. Idempotent: a job is
   * re-read inside the unit of work, so a heartbeat that got in first keeps it running.
   */
  async requeueExpired(now: number, limit = 500): Promise<number> {
    const expired = await this.jobs.findExpiredLeases(now, limit);
    if (expired.length === 0) return 0;
    const backoff = this.backoff();
    const recovered = await this.db.write(async (sql) => {
      const ids: string[] = [];
      for (const row of await this.jobs.findByIds(sql, expired.map((r) => r.id))) {
        if (row.state !== 'processing' || row.lease_expires_at === null || Number(row.lease_expires_at) >= now) continue;
        if (await this.fail(sql, row, Number(row.lease), { exitCode: null, signal: null, error: 'worker lost' }, backoff, now)) ids.push(row.id);
      }
      return ids;
    });
    for (const id of recovered) this.signals.jobChanged(id);
    if (recovered.length > 0) this.signals.workAvailable();
    return recovered.length;
  }

  /** Ends the run `lease` of a job as failed; undefined when that run no longer holds the job. */
  private async fail(sql: Sql, row: JobRow, lease: number, end: AttemptEnd, backoff: BackoffPolicy, now: number): Promise<'retry' | 'bury' | undefined> {
    const verdict = judgeAttempt(row, end, backoff, now);
    const reason = verdict.kind === 'complete' ? 'ended without an exit status' : verdict.reason;
    const outcome = { exitCode: end.exitCode, error: reason };
    const kind = verdict.kind === 'retry' ? 'retry' : 'bury';
    const ok =
      verdict.kind === 'retry'
        ? await this.jobs.scheduleRetry(sql, row.id, lease, now, verdict.dueAt, outcome)
        : await this.jobs.bury(sql, row.id, lease, now, outcome);
    if (!ok) return undefined;
    await this.jobs.finishAttempt(sql, row.id, lease, now, outcome);
    return kind;
  }

  private backoff(): BackoffPolicy {
    return { base: this.config.get('backoff-base'), maxSeconds: this.config.get('backoff-max'), jitter: this.config.get('backoff-jitter') };
  }

  private leaseUntil(now: number): number {
    return now + Math.round(this.config.get('lease-timeout') * 1000);
  }

  private toClaimed(row: JobRow): ClaimedJob {
    const timeout = row.timeout_seconds ? Number(row.timeout_seconds) : this.config.get('job-timeout');
    return { id: row.id, command: row.command, lease: Number(row.lease), attempt: Number(row.attempts), max_retries: Number(row.max_retries), timeout_seconds: timeout > 0 ? timeout : null };
  }
}
