import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../common/clock';
import { DuplicateJob, InvalidInput, InvalidTransition, JobNotFound } from '../common/domain-errors';
import { SqlDatabase } from '../database/sql';
import { ConfigService } from '../config/config.service';
import { JobRow, NewJob } from './job-row';
import { JobState } from './job-state';
import { AttemptResponse, JobResponse, toAttemptResponse, toJobResponse } from './job.mapper';
import { JobsRepository } from './jobs.repository';
import { JobSignals } from './job-signals';
import { EnqueueJobDto } from './dto/enqueue-job.dto';

export interface JobPage {
  jobs: JobResponse[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: number | null;
}

export interface JobDetail extends JobResponse {
  runs: AttemptResponse[];
}

/** Enqueue, inspect, cancel and retry jobs: what users ask of the queue. */
interface WaitingInsert {
  jobs: NewJob[];
  resolve: (rows: JobRow[]) => void;
  reject: (err: unknown) => void;
}

@Injectable()
export class JobsService {
  private readonly waitingInserts: WaitingInsert[] = [];

  constructor(
    private readonly db: SqlDatabase,
    private readonly jobs: JobsRepository,
    private readonly config: ConfigService,
    private readonly signals: JobSignals,
    private readonly clock: Clock,
  ) {}

  async enqueue(input: EnqueueJobDto): Promise<JobResponse> {
    const [job] = await this.enqueueMany([input]);
    return job;
  }

  /** All or nothing; once the promise resolves the jobs are committed to disk. */
  async enqueueMany(inputs: EnqueueJobDto[]): Promise<JobResponse[]> {
    const newJobs = inputs.map((input, i) => this.toNewJob(input, inputs.length > 1 ? `jobs[${i}].` : ''));
    const rows = await this.insertCoalesced(newJobs);
    this.signals.workAvailable();
    return rows.map(toJobResponse);
  }

  /**
   * Enqueue requests that arrive while a transaction is being written wait for the next one and
   * go in together: one id check and one INSERT for all of them instead of a unit each.
   */
  private insertCoalesced(jobs: NewJob[]): Promise<JobRow[]> {
    return new Promise<JobRow[]>((resolve, reject) => {
      this.waitingInserts.push({ jobs, resolve, reject });
      if (this.waitingInserts.length > 1) return;
      let group: WaitingInsert[] | undefined;
      const take = () => {
        group ??= this.waitingInserts.splice(0);
        return group;
      };
      this.db
        .write((sql) => this.jobs.insertGroups(sql, take().map((g) => g.jobs), this.clock.now()))
        .then(
          (outcomes) => take().forEach((g, i) => (outcomes[i] instanceof DuplicateJob ? g.reject(outcomes[i]) : g.resolve(outcomes[i] as JobRow[]))),
          (err) => take().forEach((g) => g.reject(err)),
        );
    });
  }

  async list(filter: { state?: JobState; search?: string; limit?: number; cursor?: number }): Promise<JobPage> {
    const limit = filter.limit ?? 100;
    const page = await this.jobs.list({ state: filter.state, search: filter.search, limit, beforeSeq: filter.cursor });
    return { jobs: page.rows.map(toJobResponse), next_cursor: page.next };
  }

  async show(id: string): Promise<JobDetail> {
    const row = await this.jobs.findById(id);
    if (!row) throw new JobNotFound(id);
    const attempts = await this.jobs.findAttempts(id);
    return { ...toJobResponse(row), runs: attempts.map(toAttemptResponse) };
  }

  /** Pending and failed jobs go to the DLQ at once; a running job is marked and its worker kills it. */
  async cancel(id: string): Promise<JobResponse> {
    const now = this.clock.now();
    const row = await this.db.write(async (sql) => (await this.jobs.cancelWaiting(sql, id, now)) ?? this.jobs.requestCancel(sql, id, now));
    if (row) {
      this.signals.jobChanged(id);
      return toJobResponse(row);
    }
    const current = await this.jobs.findById(id);
    if (!current) throw new JobNotFound(id);
    throw new InvalidTransition(id, current.state, 'cancel');
  }

  async retryDead(id: string): Promise<JobResponse> {
    const row = await this.db.write((sql) => this.jobs.retryDead(sql, id, this.clock.now()));
    if (!row) {
      const current = await this.jobs.findById(id);
      if (!current) throw new JobNotFound(id);
      throw new InvalidTransition(id, current.state, 'retry it from the DLQ (only dead jobs can be retried)');
    }
    this.signals.workAvailable();
    this.signals.jobChanged(id);
    return toJobResponse(row);
  }

  async retryAllDead(): Promise<{ retried: number }> {
    const retried = await this.db.write((sql) => this.jobs.retryAllDead(sql, this.clock.now()));
    if (retried > 0) this.signals.workAvailable();
    return { retried };
  }

  async counts(): Promise<Record<JobState, number>> {
    return this.jobs.countByState();
  }

  async purge(state: 'completed' | 'dead', olderThanSeconds = 0): Promise<{ purged: number }> {
    const before = this.clock.now() - olderThanSeconds * 1000;
    const purged = await this.db.write((sql) => this.jobs.purgeFinished(sql, state, before));
    return { purged };
  }

  /**
   * The jobs `enqueueMany` would insert for these inputs (checked, defaults filled in), for
   * callers that insert them in a unit of work of their own: schedule ticks, idempotent enqueues.
   */
  newJobs(inputs: EnqueueJobDto[]): NewJob[] {
    return inputs.map((input, i) => this.toNewJob(input, inputs.length > 1 ? `jobs[${i}].` : ''));
  }

  private toNewJob(input: EnqueueJobDto, where: string): NewJob {
    let runAt: number | null = null;
    if (input.run_at !== undefined) {
      runAt = Date.parse(input.run_at);
      if (!Number.isFinite(runAt)) throw new InvalidInput(`${where}run_at is not a valid time: "${input.run_at}"`);
    }
    if (input.backoff_base !== undefined && input.base_backoff !== undefined) {
      throw new InvalidInput(`${where}backoff_base and base_backoff are the same field: give one of them`);
    }
    return {
      id: input.id ?? newJobId(this.clock.now()),
      command: input.command,
      maxRetries: input.max_retries ?? this.config.get('max-retries'),
      priority: input.priority ?? 0,
      runAt,
      timeoutSeconds: input.timeout_seconds ? input.timeout_seconds : null,
      backoffBase: input.backoff_base ?? input.base_backoff ?? null,
    };
  }
}

/**
 * A time-ordered id: 9 base-36 characters of the clock, then 8 random URL-safe ones. Jobs made
 * together sit together in the primary-key index, so a batch touches a few of its pages instead
 * of nearly all of them (with random ids, a 10,000-job batch at a million rows took 10× longer
 * and rewrote most of the index into the WAL).
 */
export function newJobId(now = Date.now()): string {
  if (idPoolAt + ID_RANDOM_BYTES > idPool.length) {
    idPool = randomBytes(ID_RANDOM_BYTES * 1024);
    idPoolAt = 0;
  }
  idPoolAt += ID_RANDOM_BYTES;
  return now.toString(36).padStart(9, '0') + idPool.toString('base64url', idPoolAt - ID_RANDOM_BYTES, idPoolAt);
}

const ID_RANDOM_BYTES = 6;
/** Random bytes for ids, drawn for 1,024 ids at a time: a call per id was a tenth of a batch's cost. */
let idPool = Buffer.alloc(0);
let idPoolAt = 0;
