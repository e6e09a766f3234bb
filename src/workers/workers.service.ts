import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Clock, toIso } from '../common/clock';
import { WorkerNotFound } from '../common/domain-errors';
import { ConfigService } from '../config/config.service';
import { SqlDatabase } from '../database/sql';
import { ClaimHandoff } from '../jobs/claim-handoff';
import { ClaimedJob, JobRunsService, OutputChunk, ReportTry, RunRef, RunResult } from '../jobs/job-runs.service';
import { Notifications } from '../database/notifications';
import { JobSignals } from '../jobs/job-signals';
import { JobsRepository } from '../jobs/jobs.repository';
import { WorkersRepository } from './workers.repository';

/** What a worker learns when it registers (and again with every heartbeat: settings may change). */
export interface WorkerSettings {
  heartbeat_interval_ms: number;
  lease_timeout_ms: number;
  output_limit_bytes: number;
}

export interface ClaimAnswer {
  jobs: ClaimedJob[];
  /** The worker is asked to stop: finish what runs, claim nothing more. */
  stop: boolean;
}

export interface WorkerView {
  id: string;
  hostname: string;
  pid: number;
  concurrency: number;
  started_at: string;
  heartbeat_at: string;
  heartbeat_age_ms: number;
  stopping: boolean;
  /** The queues it serves; null for all. */
  queues: string[] | null;
  jobs: Array<{ id: string; command: string; started_at: string | null }>;
}

/** An idle claim looks again at least this often, should a wake-up signal be missed. */
const CLAIM_RECHECK_MS = 2000;

/**
 * The worker protocol: registration, long-poll claims, heartbeats, output and reports. Which job
 * a worker gets and what a result does to a job is JobRunsService's business; this service adds
 * the workers' side: who is live, who was asked to stop, and waiting for work without polling.
 */
@Injectable()
export class WorkersService implements OnModuleInit, OnModuleDestroy {
  /** Workers asked to stop that have not deregistered: their claims answer `stop` at once. */
  private readonly stopRequested = new Set<string>();
  /** Workers known to be registered and not deregistered (see requireWorker). */
  private readonly registered = new Set<string>();
  private readonly stopEvents = new EventEmitter();
  private closing = false;

  constructor(
    private readonly db: SqlDatabase,
    private readonly workers: WorkersRepository,
    private readonly jobs: JobsRepository,
    private readonly runs: JobRunsService,
    private readonly signals: JobSignals,
    private readonly config: ConfigService,
    private readonly clock: Clock,
    private readonly replicas: Notifications,
    private readonly handoff: ClaimHandoff,
  ) {
    this.stopEvents.setMaxListeners(0);
    // A worker asked to stop through another replica: its claims here answer `stop` at once.
    replicas.subscribe('stop', (ids) => this.stopping(ids.split(',')));
  }

  private stopping(ids: string[]): void {
    for (const w of ids) {
      this.stopRequested.add(w);
      this.stopEvents.emit(w);
    }
  }

  async onModuleInit(): Promise<void> {
    for (const id of await this.workers.findStopRequested()) this.stopRequested.add(id);
  }

  /**
   * Refuses a worker id that never registered or has deregistered, before its request touches
   * any job: a lease number alone must not extend, report or write to a run. Ids seen registered
   * in this process are remembered, so the hot path costs no query.
   */
  private async requireWorker(workerId: string): Promise<void> {
    if (this.registered.has(workerId)) return;
    const row = await this.workers.findById(workerId);
    if (!row || row.stopped_at !== null) throw new WorkerNotFound(workerId);
    this.registered.add(workerId);
  }

  /** Answers every waiting claim at once, so the HTTP server can close. */
  onModuleDestroy(): void {
    this.closing = true;
    this.stopEvents.emit('all');
  }

  async register(input: { hostname: string; pid: number; concurrency: number; queues?: string[] }): Promise<{ id: string } & WorkerSettings> {
    const now = this.clock.now();
    const id = `w-${randomBytes(6).toString('hex')}`;
    const row = { id, hostname: input.hostname, pid: input.pid, concurrency: input.concurrency, queues: input.queues?.join(',') ?? null };
    await this.db.write((sql) => this.workers.insert(sql, { ...row, started_at: now, heartbeat_at: now }));
    this.registered.add(id);
    return { id, ...this.settings() };
  }

  /**
   * Claims up to `limit` due jobs; with none due, waits up to `waitMs` for one: woken at once by
   * an enqueue or retry, and by a timer at the earliest future due time. Returns early when the
   * worker is asked to stop, the service closes, or the worker hangs up (`abandoned`).
   */
  async claim(workerId: string, limit: number, waitMs: number, abandoned: AbortSignal, queues?: string[]): Promise<ClaimAnswer> {
    await this.requireWorker(workerId);
    const deadline = this.clock.now() + waitMs;
    let woken = false;
    let wake: () => void = () => undefined;
    const onWake = () => {
      woken = true;
      wake();
    };
    const offWork = this.signals.onWorkAvailable(onWake);
    this.stopEvents.on(workerId, onWake).on('all', onWake);
    abandoned.addEventListener('abort', onWake);
    try {
      for (;;) {
        if (this.stopRequested.has(workerId) || this.closing) return { jobs: [], stop: this.stopRequested.has(workerId) };
        if (abandoned.aborted) return { jobs: [], stop: false };
        woken = false;
        const claimedAt = this.clock.now();
        const jobs = await this.runs.claim(workerId, limit, queues);
        if (abandoned.aborted && jobs.length > 0) {
          // The worker hung up while the claim was written: nobody will run these, put them back.
          await this.runs.finish(workerId, [], jobs, 0);
          return { jobs: [], stop: false };
        }
        const now = this.clock.now();
        if (jobs.length > 0 || now >= deadline) return { jobs, stop: false };
        if (woken) continue;
        // The earliest due time of all, not only of the future: a job that fell due between the
        // claim and this moment must be claimed at once, not after a recheck.
        let nextDue = await this.jobs.nextDueAt();
        if (woken) continue;
        // Due when this claim looked, yet not taken: its queue is paused, full or not served here.
        // A resume, a freed slot or a new job wakes this claim; until then it rechecks.
        if (nextDue !== undefined && nextDue <= claimedAt) nextDue = undefined;
        const sleepMs = Math.max(1, Math.min(deadline - now, CLAIM_RECHECK_MS, nextDue === undefined ? Infinity : nextDue - now));
        // While it sleeps, an enqueue here may claim for it in its own transaction (ClaimHandoff).
        const waiting = this.handoff.wait(
          (sql, settings) => this.runs.claimWithin(sql, workerId, limit, queues, settings),
          queues,
          onWake,
          (job, said) => this.runs.insertClaimed(job, workerId, said),
        );
        try {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, sleepMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        } finally {
          wake = () => undefined;
          this.handoff.leave(waiting);
        }
        await waiting.offerSettled();
        if (waiting.state === 'handed') {
          if (abandoned.aborted) {
            await this.runs.finish(workerId, [], waiting.jobs, 0);
            return { jobs: [], stop: false };
          }
          // Claimed already: a stop asked meanwhile is answered with them (the worker gives them back).
          return { jobs: waiting.jobs, stop: this.stopRequested.has(workerId) };
        }
      }
    } finally {
      offWork();
      this.stopEvents.off(workerId, onWake).off('all', onWake);
      abandoned.removeEventListener('abort', onWake);
    }
  }

  async report(
    workerId: string,
    results: RunResult[],
    released: RunRef[],
    claimLimit: number,
    report?: ReportTry,
    queues?: string[],
  ): Promise<{ refused: string[] } & ClaimAnswer> {
    await this.requireWorker(workerId);
    const stop = this.stopRequested.has(workerId);
    const { refused, jobs } = await this.runs.finish(workerId, results, released, stop || this.closing ? 0 : claimLimit, report, queues);
    return { refused, jobs, stop };
  }

  async heartbeat(workerId: string, running: RunRef[]): Promise<{ stop: boolean; cancel: string[]; lost: string[] } & WorkerSettings> {
    await this.requireWorker(workerId);
    const now = this.clock.now();
    const [worker, leases] = await Promise.all([this.db.write((sql) => this.workers.heartbeat(sql, workerId, now)), this.runs.heartbeat(running)]);
    // Deregistered by another request meanwhile: the leases it held may be extended this once.
    if (!worker) throw new WorkerNotFound(workerId);
    if (Number(worker.stop_requested)) this.stopRequested.add(workerId);
    return { stop: this.stopRequested.has(workerId), ...leases, ...this.settings() };
  }

  async output(workerId: string, chunks: OutputChunk[]): Promise<{ refused: string[] }> {
    await this.requireWorker(workerId);
    return { refused: await this.runs.appendOutput(chunks) };
  }

  async deregister(workerId: string): Promise<{ id: string }> {
    this.registered.delete(workerId);
    const changed = await this.db.write((sql) => this.workers.markStopped(sql, workerId, this.clock.now()));
    this.stopRequested.delete(workerId);
    if (!changed && !(await this.workers.findById(workerId))) throw new WorkerNotFound(workerId);
    return { id: workerId };
  }

  /** Asks one live worker, or all of them, to stop after their running jobs. No live worker: 0, not an error. */
  async requestStop(id?: string): Promise<{ stopping: number; ids: string[] }> {
    const ids = await this.db.write(async (sql) => {
      const ids = await this.workers.requestStop(sql, this.freshAfter(), id);
      if (ids.length > 0) sql.announce('stop', ids.join(','), () => this.stopping(ids));
      return ids;
    });
    if (id !== undefined && ids.length === 0) throw new WorkerNotFound(id);
    return { stopping: ids.length, ids };
  }

  /** Live workers (fresh heartbeat, not deregistered) with the jobs they run. */
  async list(): Promise<WorkerView[]> {
    const now = this.clock.now();
    const rows = await this.workers.findLive(this.freshAfter());
    const running = await this.jobs.findRunningOf(rows.map((r) => r.id));
    return rows.map((w) => ({
      id: w.id,
      hostname: w.hostname,
      pid: Number(w.pid),
      concurrency: Number(w.concurrency),
      started_at: toIso(w.started_at)!,
      heartbeat_at: toIso(w.heartbeat_at)!,
      heartbeat_age_ms: Math.max(0, now - Number(w.heartbeat_at)),
      stopping: Boolean(Number(w.stop_requested)),
      queues: w.queues ? w.queues.split(',') : null,
      jobs: running.filter((j) => j.worker_id === w.id).map((j) => ({ id: j.id, command: j.command, started_at: toIso(j.started_at) })),
    }));
  }

  settings(): WorkerSettings {
    return {
      heartbeat_interval_ms: Math.round(this.config.get('heartbeat-interval') * 1000),
      lease_timeout_ms: Math.round(this.config.get('lease-timeout') * 1000),
      output_limit_bytes: this.config.get('output-limit'),
    };
  }

  /** A worker is live while its last heartbeat is younger than one lease. */
  private freshAfter(): number {
    return this.clock.now() - this.config.get('lease-timeout') * 1000;
  }
}
