import { Injectable } from '@nestjs/common';
import { ClaimHandoff, Handover } from './claim-handoff';
import { randomBytes } from 'node:crypto';
import { Clock } from '../common/clock';
import { DependencyCycle, DependencyDead, DependencyNotFound, DomainError, DuplicateJob, InvalidInput, InvalidTransition, JobNotFound, StorageUnavailable } from '../common/domain-errors';
import { Announcement, Sql, SqlDatabase, announcing } from '../database/sql';
import { ConfigService } from '../config/config.service';
import { DraftJob, JobRow, NewJob } from './job-row';
import { JobState } from './job-state';
import { AttemptResponse, JobResponse, jobListJson, toAttemptResponse, toJobResponse } from './job.mapper';
import { JobsRepository } from './jobs.repository';
import { JobSignals } from './job-signals';
import { EnqueueJobDto } from './dto/enqueue-job.dto';
import { DEFAULT_QUEUE } from './jobs.repository';
import { QueueSettings, QueuesRepository } from '../queues/queues.repository';
import { BLOCKED_DUE_AT, JobDependenciesRepository } from './job-dependencies.repository';
import { findCycle } from './job-flows';

export interface JobPage {
  jobs: JobResponse[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: number | null;
}

export interface JobDetail extends JobResponse {
  runs: AttemptResponse[];
  /** The jobs that wait on this one (`after` it), at most 1,000. */
  dependents: string[];
}

/** Enqueue, inspect, cancel and retry jobs: what users ask of the queue. */
interface WaitingInsert {
  jobs: DraftJob[];
  resolve: (rows: JobRow[]) => void;
  reject: (err: unknown) => void;
}

@Injectable()
export class JobsService {
  private readonly waitingInserts: WaitingInsert[] = [];
  /** A lone job's statement in flight (insertAlone): what is queued meanwhile waits for it, as for a transaction being written. */
  private insertingAlone?: Promise<void>;

  constructor(
    private readonly db: SqlDatabase,
    private readonly jobs: JobsRepository,
    private readonly config: ConfigService,
    private readonly signals: JobSignals,
    private readonly clock: Clock,
    private readonly queues: QueuesRepository,
    private readonly dependencies: JobDependenciesRepository,
    private readonly handoff: ClaimHandoff,
  ) {}

  async enqueue(input: EnqueueJobDto): Promise<JobResponse> {
    const [job] = await this.enqueueMany([input]);
    return job;
  }

  /**
   * enqueueMany answering only the jobs' ids, in order (a request's `Prefer: return=minimal`):
   * nothing of the jobs is built or sent back, which for a large batch costs more than storing it.
   */
  async enqueueIds(inputs: EnqueueJobDto[]): Promise<string[]> {
    const rows = await this.insertCoalesced(await this.newJobs(inputs));
    return rows.map((r) => r.id);
  }

  /** All or nothing; once the promise resolves the jobs are committed to disk. */
  async enqueueMany(inputs: EnqueueJobDto[]): Promise<JobResponse[]> {
    const newJobs = await this.newJobs(inputs);
    const rows = await this.insertCoalesced(newJobs);
    return this.answerInserted(newJobs, rows);
  }

  /**
   * enqueueMany for the batch endpoint, answered as the JSON text of `{ jobs }` (see jobListJson):
   * the answer lists every job of the batch, and serializing it was a sixth of a batch's time.
   */
  async enqueueBatch(inputs: EnqueueJobDto[]): Promise<string> {
    const newJobs = await this.newJobs(inputs);
    const rows = await this.insertCoalesced(newJobs);
    if (newJobs.some((j) => j.after!.length > 0)) return JSON.stringify({ jobs: await this.respond(rows) });
    return jobListJson(rows);
  }

  /**
   * Answers for jobs just inserted from `jobs`. Only jobs given `after` can wait on anything, so
   * without them the read of their dependencies is skipped: it would find nothing, and enqueue is
   * a hot path.
   */
  answerInserted(jobs: DraftJob[], rows: JobRow[], sql?: Sql): Promise<JobResponse[]> {
    if (!jobs.some((j) => j.after!.length > 0)) return Promise.resolve(rows.map((r) => toJobResponse(r)));
    return this.respond(rows, sql);
  }

  /**
   * The jobs `enqueueMany` would insert for these inputs: checked (a cycle among their `after` is
   * refused), defaults filled in but max retries (see insertGroups). For callers that insert them
   * in a unit of work of their own through `insertGroups` (schedule ticks, idempotent enqueues).
   */
  async newJobs(inputs: EnqueueJobDto[]): Promise<DraftJob[]> {
    const newJobs = inputs.map((input, i) => this.toNewJob(input, inputs.length > 1 ? i : undefined));
    if (newJobs.some((j) => j.after!.length > 0)) {
      const cycle = findCycle(newJobs);
      if (cycle) throw new DependencyCycle(cycle);
    }
    return newJobs;
  }

  /** Rows as answered, with what each waits on (read in `sql` when given, the unit that wrote them). */
  async respond(rows: JobRow[], sql?: Sql): Promise<JobResponse[]> {
    const flows = await this.dependencies.flowsOf(rows, sql);
    return rows.map((r) => toJobResponse(r, flows.get(r.id)));
  }

  private async respondOne(row: JobRow): Promise<JobResponse> {
    const [job] = await this.respond([row]);
    return job;
  }

  /**
   * Enqueue requests that arrive while a transaction is being written wait for the next one and
   * go in together: one id check and one INSERT for all of them instead of a unit each. A lone
   * job on an idle replica may go in by a statement of its own (insertAlone).
   */
  private insertCoalesced(jobs: DraftJob[]): Promise<JobRow[]> {
    return this.mayInsertAlone(jobs) ? this.insertAlone(jobs[0]) : this.insertQueued(jobs);
  }

  /** Into the next unit of work, with the requests that arrive meanwhile (insertCoalesced). */
  private insertQueued(jobs: DraftJob[]): Promise<JobRow[]> {
    return new Promise<JobRow[]>((resolve, reject) => {
      this.waitingInserts.push({ jobs, resolve, reject });
      if (this.waitingInserts.length > 1) return;
      let group: WaitingInsert[] | undefined;
      const take = () => {
        group ??= this.waitingInserts.splice(0);
        return group;
      };
      // Claims waiting here get the new jobs in the same unit of work; a unit run again (after a
      // deadlock) offers them again.
      let handover: Handover | undefined;
      const write = () =>
        this.db
          .write(async (sql) => {
            handover?.undo();
            handover = undefined;
            // Read first, for the jobs' max retries and the claims' pauses and limits alike: on
            // PostgreSQL the BEGIN goes with it (see Opening), on SQLite it is kept between units.
            const queues = await this.queues.settings(sql);
            const outcomes = await this.insertGroups(sql, take().map((g) => g.jobs), this.clock.now(), queues);
            const inserted = outcomes.flatMap((o) => (o instanceof DomainError ? [] : o.map((r) => r.id)));
            if (inserted.length > 0) {
              handover = await this.handoff.offer(sql, queues);
              // The other claims (here and on the other replicas) are woken unless the waiting
              // claims here took every new job: then there is nothing new for them to find.
              if (!handover.tookAll(inserted)) this.signals.workAvailable(sql);
            }
            return outcomes;
          })
          .then(
            (outcomes) => {
              handover?.deliver();
              take().forEach((g, i) => (outcomes[i] instanceof DomainError ? g.reject(outcomes[i]) : g.resolve(outcomes[i] as JobRow[])));
            },
            (err) => {
              handover?.undo();
              take().forEach((g) => g.reject(err));
            },
          );
      // Behind a lone job's statement, the requests that arrive meanwhile gather for one unit.
      if (this.insertingAlone) void this.insertingAlone.then(write);
      else void write();
    });
  }

  /**
   * Where the database has autocommit (PostgreSQL), a lone job waiting on nothing, on a replica
   * with nothing to write: one statement that commits alone and tells the other replicas, one
   * round trip where a unit makes three (four with a claim waiting). One such insert at a time:
   * what arrives meanwhile waits for it and goes in one unit, as behind a transaction being
   * written, so a busy replica still shares transactions.
   */
  private mayInsertAlone(jobs: DraftJob[]): boolean {
    return (
      this.db.autocommit !== undefined &&
      this.insertingAlone === undefined &&
      jobs.length === 1 &&
      jobs[0].after!.length === 0 &&
      this.waitingInserts.length === 0 &&
      this.db.writesIdle
    );
  }

  /**
   * A lone job by one statement in autocommit (mayInsertAlone). With no claim waiting here it
   * goes in pending. With claims waiting, it goes in claimed for the one that has waited longest
   * (ClaimHandoff.firstFor), which is answered with it, as the usual unit would have done; when
   * that claim does not serve its queue, the usual unit offers it to them all.
   *
   * When the statement stored nothing (the id is taken; or, for a claim, the job is not due,
   * another is, or its queue is paused or limited), or failed without a doubt that nothing was
   * stored (PostgreSQL chose it as a deadlock's victim, say), the job goes the usual way, which
   * answers a taken id as such and claims by the usual rules. Only a lost database is answered at
   * once: the job may or may not be stored, as with any unit whose COMMIT got no answer.
   */
  private async insertAlone(job: DraftJob): Promise<JobRow[]> {
    const waiting = this.handoff.anyWaiting();
    const taker = waiting ? this.handoff.firstFor(job.queue ?? DEFAULT_QUEUE) : undefined;
    if (waiting && taker === undefined) return this.insertQueued([job]);
    let done!: () => void;
    this.insertingAlone = new Promise<void>((resolve) => (done = resolve));
    try {
      const said: Announcement[] = [];
      if (taker !== undefined) {
        taker.offer();
        const taken = await taker.claimNew!(job, said).catch((e: unknown) => {
          taker.undo();
          throw e;
        });
        if (taken !== undefined) {
          taker.hand([taken.claimed]);
          return [taken.row];
        }
        taker.undo();
      } else {
        this.signals.workAvailable(announcing(said));
        const row = await this.jobs.insertAlone(job, this.clock.now(), this.config.get('max-retries'), said);
        if (row !== undefined) return [row];
      }
    } catch (e) {
      if (e instanceof StorageUnavailable) throw e;
    } finally {
      this.insertingAlone = undefined;
      done();
    }
    return this.insertQueued([job]);
  }

  /**
   * Inserts the groups (one per request); with dependencies, also checks the ids they wait on and
   * stores the edges. A group that waits on an unknown job is refused (404) alone. A job waiting
   * on one already dead ends dead at once, as it would have a moment later had it been enqueued
   * first; one waiting only on completed jobs is due at once.
   *
   * A job given no max retries takes its queue's as this unit reads them (`queues`, when the unit
   * has read them already), else the global setting: a change committed before the unit began
   * applies to it.
   */
  async insertGroups(sql: Sql, drafts: DraftJob[][], now: number, queues?: QueueSettings): Promise<Array<JobRow[] | DomainError>> {
    const groups = await this.withMaxRetries(sql, drafts, queues);
    if (!groups.some((g) => g.some((j) => j.after!.length > 0))) return this.jobs.insertGroups(sql, groups, now);
    const own = groups.map((g) => new Set(g.map((j) => j.id)));
    const outside = new Set(groups.flatMap((g, i) => g.flatMap((j) => j.after!.filter((id) => !own[i].has(id)))));
    const states = await this.dependencies.lockStates(sql, [...outside]);
    const outcomes: Array<JobRow[] | DomainError | undefined> = groups.map((g, i) => {
      const unknown = g.flatMap((j) => j.after!).find((id) => !own[i].has(id) && !states.has(id));
      return unknown === undefined ? undefined : new DependencyNotFound(unknown);
    });
    const admitted = groups.filter((_, i) => outcomes[i] === undefined);
    admitted.forEach((g) => g.forEach((j) => (j.blocked = j.after!.some((id) => states.get(id) !== 'completed'))));
    const inserted = await this.jobs.insertGroups(sql, admitted, now);
    const edges: Array<[string, string]> = [];
    const dead = new Set<string>();
    admitted.forEach((g, k) => {
      if (inserted[k] instanceof DomainError) return;
      for (const j of g) for (const id of j.after!) {
        edges.push([j.id, id]);
        if (states.get(id) === 'dead') dead.add(id);
      }
    });
    await this.dependencies.insert(sql, edges);
    const killed = new Map((await this.dependencies.killDependents(sql, [...dead], now)).map((k) => [k.id, k.last_error]));
    let k = 0;
    return outcomes.map((o) => {
      if (o !== undefined) return o;
      const rows = inserted[k++];
      if (rows instanceof DomainError || killed.size === 0) return rows;
      for (const r of rows) if (killed.has(r.id)) Object.assign(r, { state: 'dead', last_error: killed.get(r.id), finished_at: now });
      return rows;
    });
  }

  async list(filter: { state?: JobState; search?: string; limit?: number; cursor?: number; queue?: string }): Promise<JobPage> {
    const limit = filter.limit ?? 100;
    const page = await this.jobs.list({ state: filter.state, search: filter.search, limit, beforeSeq: filter.cursor, queue: filter.queue });
    return { jobs: await this.respond(page.rows), next_cursor: page.next };
  }

  async show(id: string): Promise<JobDetail> {
    const row = await this.jobs.findById(id);
    if (!row) throw new JobNotFound(id);
    const [attempts, job, dependents] = await Promise.all([this.jobs.findAttempts(id), this.respondOne(row), this.dependencies.dependentsOf(id)]);
    return { ...job, runs: attempts.map(toAttemptResponse), dependents };
  }

  /** Pending and failed jobs go to the DLQ at once; a running job is marked and its worker kills it. */
  async cancel(id: string): Promise<JobResponse> {
    const now = this.clock.now();
    const row = await this.db.write(async (sql) => {
      const cancelled = await this.jobs.cancelWaiting(sql, id, now);
      // A cancelled job is dead: the jobs waiting on it die with it.
      const killed = cancelled ? (await this.dependencies.killDependents(sql, [id], now)).map((k) => k.id) : [];
      const row = cancelled ?? (await this.jobs.requestCancel(sql, id, now));
      if (row) for (const changed of [id, ...killed]) this.signals.jobChanged(sql, changed);
      return row;
    });
    if (row) return this.respondOne(row);
    const current = await this.jobs.findById(id);
    if (!current) throw new JobNotFound(id);
    throw new InvalidTransition(id, current.state, 'cancel');
  }

  async retryDead(id: string): Promise<JobResponse> {
    const row = await this.db.write(async (sql) => {
      const revived = await this.jobs.retryDead(sql, id, this.clock.now());
      if (revived) {
        await this.waitAgain(sql, revived);
        this.signals.workAvailable(sql);
        this.signals.jobChanged(sql, id);
      }
      return revived;
    });
    if (!row) {
      const current = await this.jobs.findById(id);
      if (!current) throw new JobNotFound(id);
      throw new InvalidTransition(id, current.state, 'retry it from the DLQ (only dead jobs can be retried)');
    }
    return this.respondOne(row);
  }

  /**
   * A job retried from the DLQ waits again for its dependencies not completed yet. While one of
   * them is dead it is refused (the unit is undone): it could only die again at once.
   */
  private async waitAgain(sql: Sql, row: JobRow): Promise<void> {
    const states = await this.dependencies.lockStates(sql, await this.dependencies.dependenciesOf(sql, row.id));
    const dead = [...states].find(([, state]) => state === 'dead');
    if (dead) throw new DependencyDead(row.id, dead[0]);
    if ([...states.values()].some((state) => state !== 'completed')) {
      await this.dependencies.reblock(sql, [row.id]);
      row.due_at = BLOCKED_DUE_AT;
    }
  }

  async retryAllDead(): Promise<{ retried: number }> {
    const retried = await this.db.write(async (sql) => {
      const n = await this.jobs.retryAllDead(sql, this.clock.now());
      // Every dead job is back, dependencies with their dependents: these wait again.
      if (n > 0) {
        await this.dependencies.reblock(sql, 'all');
        this.signals.workAvailable(sql);
      }
      return n;
    });
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

  /** The jobs as stored: those given no max retries take their queue's, else the global setting. */
  private async withMaxRetries(sql: Sql, groups: DraftJob[][], queues?: QueueSettings): Promise<NewJob[][]> {
    if (groups.every((g) => g.every((j) => j.maxRetries !== undefined))) return groups as NewJob[][];
    const settings = queues ?? (await this.queues.settings(sql));
    const global = this.config.get('max-retries');
    return groups.map((g) => g.map((j) => (j.maxRetries !== undefined ? (j as NewJob) : { ...j, maxRetries: settings.get(j.queue ?? DEFAULT_QUEUE)?.max_retries ?? global })));
  }

  /** `index`: the job's place in a batch, named in errors; undefined for a job alone. */
  private toNewJob(input: EnqueueJobDto, index: number | undefined): DraftJob {
    let runAt: number | null = null;
    if (input.run_at !== undefined) {
      runAt = Date.parse(input.run_at);
      if (!Number.isFinite(runAt)) throw new InvalidInput(`${batchPlace(index)}run_at is not a valid time: "${input.run_at}"`);
    }
    if (input.backoff_base !== undefined && input.base_backoff !== undefined) {
      throw new InvalidInput(`${batchPlace(index)}backoff_base and base_backoff are the same field: give one of them`);
    }
    const queue = input.queue ?? DEFAULT_QUEUE;
    return {
      id: input.id ?? newJobId(this.clock.now()),
      command: input.command,
      // The job's own; else its queue's or the global setting, read where it is inserted.
      maxRetries: input.max_retries,
      queue,
      priority: input.priority ?? 0,
      runAt,
      timeoutSeconds: input.timeout_seconds ? input.timeout_seconds : null,
      backoffBase: input.backoff_base ?? input.base_backoff ?? null,
      cwd: input.cwd ?? null,
      env: input.env ?? null,
      // Most jobs wait on nothing: no Set to build for them.
      after: input.after === undefined || input.after.length === 0 ? [] : [...new Set(input.after)],
    };
  }
}

/** Where a field is in a batch's body, for its errors: made only when one is thrown. */
function batchPlace(index: number | undefined): string {
  return index === undefined ? '' : `jobs[${index}].`;
}

/**
 * A time-ordered id: 9 base-36 characters of the clock, then 8 random URL-safe ones. Jobs made
 * together sit together in the primary-key index, so a batch touches a few of its pages instead
 * of nearly all of them (with random ids, a 10,000-job batch at a million rows took 10× longer
 * and rewrote most of the index into the WAL).
 */
export function newJobId(now = Date.now()): string {
  if (idPoolAt + ID_RANDOM_CHARS > idPool.length) {
    idPool = randomBytes(ID_RANDOM_BYTES * 1024).toString('base64url');
    idPoolAt = 0;
  }
  idPoolAt += ID_RANDOM_CHARS;
  if (now !== idClockAt) {
    idClockAt = now;
    idClock = now.toString(36).padStart(9, '0');
  }
  return idClock + idPool.substring(idPoolAt - ID_RANDOM_CHARS, idPoolAt);
}

const ID_RANDOM_BYTES = 6;
/** 6 bytes are 8 base64url characters exactly, so the pool is encoded once and cut every 8. */
const ID_RANDOM_CHARS = 8;
/** Random characters for ids, drawn for 1,024 ids at a time: a call per id was a tenth of a batch's cost. */
let idPool = '';
let idPoolAt = 0;
/** The clock part of the last id: the jobs of a batch are made within the same millisecond or few. */
let idClockAt = -1;
let idClock = '';
