import { leaseBudget } from '../../src/common/lease-budget';
import { CommandOutcome, CommandRunner, RunningCommand } from './command-runner';
import { CallAborted } from './http-worker-api';
import { monotonicMs } from './monotonic-clock';
import { OutputBuffer, OutputPiece } from './output-buffer';
import { ClaimAnswer, ClaimedJob, OutputChunk, Registration, RunRef, RunResult, WorkerApi, WorkerSettings } from './worker-api';

export interface WorkerLoopOptions {
  concurrency: number;
  /** Leave after this long with nothing to run; null: never. */
  idleTimeoutMs: number | null;
  hostname: string;
  pid: number;
  /** Say what every job did, not only failures. */
  verbose: boolean;
  log: (line: string) => void;
  /** The environment a job's command runs in. */
  environment: (job: ClaimedJob) => NodeJS.ProcessEnv;
  /** The system's monotonic clock in ms (default monotonicMs); deadlines, holds and durations are counted on it. */
  now?: () => number;
  /**
   * Tells the watchdog outside this process (the orphan guard) until when the commands may run:
   * past `deadline`, unless told again, it ends them (SIGTERM, SIGKILL `graceMs` later).
   */
  watchdog?: (deadline: number, graceMs: number) => void;
}

/** Longest claim long-poll; the service answers sooner when a job is due. */
const CLAIM_WAIT_MS = 25_000;
/** Output of running commands is sent in one batch this often. */
const OUTPUT_FLUSH_MS = 200;
/** Most output bytes of one job in one message. */
const OUTPUT_CHUNK_BYTES = 256 * 1024;
/**
 * Most output bytes in one message of all jobs together, and most a report carries per job: with
 * base64 (a third more) and up to 256 jobs a message, far below the API's 16 MiB body limit.
 */
const OUTPUT_MESSAGE_BYTES = 4 * 1024 * 1024;
const REPORT_TAIL_BYTES = 16 * 1024;
/** After a second signal, killed commands get this long to end before their reports are given up. */
const FORCED_REPORT_MS = 4000;
/** Grace between SIGTERM and SIGKILL for commands killed by a second signal. */
const FORCED_KILL_GRACE_MS = 1000;
/**
 * Prefetch: while jobs are short, each report also claims a spare job per slot, so a slot that
 * frees up starts its next command at once instead of after a round trip. A spare not started
 * within PREFETCH_HOLD_MS goes back to the queue (for an idle worker), so a long job never
 * keeps another waiting.
 */
const PREFETCH_HOLD_MS = 250;
/** Prefetch only while the typical recent job takes less than this. */
const PREFETCH_MAX_JOB_MS = 100;
/** At most this many spares per slot, however slow the service answers. */
const MAX_SPARES_PER_SLOT = 8;
const RECENT_JOBS = 8;
/**
 * While spares keep the slots busy, a report waits up to this long for more results to go with
 * it (at most REPORT_GATHER_PER_SLOT a slot): one request and one commit on the service then
 * carry several jobs instead of one each, which is most of the service's work a job. A job's end
 * is recorded that much later; its lease is kept meanwhile (see `reporting`).
 */
const REPORT_GATHER_MS = 10;
const REPORT_GATHER_PER_SLOT = 4;

interface Spare {
  job: ClaimedJob;
  /** When its claim was answered (monotonic): a spare is held PREFETCH_HOLD_MS from then. */
  claimedAt: number;
  /** When the claim that got it was sent (monotonic): its lease cannot have started before. */
  claimSentAt: number;
}

interface Slot {
  job: ClaimedJob;
  command: RunningCommand;
  /** Output not acknowledged by the service yet. */
  pending: OutputBuffer;
  /** The command ended; its remaining output goes with the report, not with an output batch. */
  finishing: boolean;
  /** The service gave this run's lease to someone else: its result is not reported. */
  lost: boolean;
  /** Monotonic, as every time the loop measures: a step of the wall clock moves none of them. */
  startedAt: number;
  /**
   * Monotonic time at which the command must be ending: the lease cannot end before (the send
   * time of the last claim or heartbeat the service answered for it) + lease, and the command is
   * stopped `margin` before that (see lease-budget.ts).
   */
  deadline: number;
  /** Stopped by the watchdog; its run is still reported (failed, to be retried). */
  fenced: boolean;
}

/**
 * One worker: claims jobs (up to `concurrency` at once), runs them, streams their output,
 * reports each result together with the claim of the next job, and heartbeats to keep its
 * leases. It knows the service only through WorkerApi.
 *
 * Slots: `running` + `spares` + `reserved` (jobs promised to claims in flight) never exceed
 * concurrency, plus one spare per slot while prefetching; long-polls only ever ask for free slots,
 * so a worker never waits for work on behalf of spares.
 */
export class WorkerLoop {
  private settings!: WorkerSettings;
  private workerId = '';
  private readonly running = new Map<string, Slot>();
  /** Claimed, not started yet (prefetched). */
  private spares: Spare[] = [];
  private spareTimer?: NodeJS.Timeout;
  /** How long the last jobs took, for the prefetch decision. */
  private readonly recent: number[] = [];
  /** How long a report takes to be answered (moving average, ms). */
  private reportMs = 0;
  /** Results queued or on their way to the service: still leased, still heartbeated. */
  private readonly reporting = new Map<string, RunRef>();
  private toReport: RunResult[] = [];
  private toRelease: RunRef[] = [];
  private reportQueued = false;
  /** Set while a queued report waits for more results (REPORT_GATHER_MS). */
  private gatherTimer?: NodeJS.Timeout;
  private reportsInFlight = 0;
  private reserved = 0;
  private stopping = false;
  private forced = false;
  private exitCode = 0;
  /** Aborts retries of claims once the worker is stopping. */
  private readonly quit = new AbortController();
  /** Aborts retries of reports the worker can no longer wait for. */
  private readonly abandon = new AbortController();
  private heartbeatTimer?: NodeJS.Timeout;
  /** The heartbeat on its way, if any: deregistering waits for it (see run()). */
  private beating: Promise<void> = Promise.resolve();
  private watchTimer?: NodeJS.Timeout;
  /** The deadline the outside watchdog was last given. */
  private guardDeadline = Infinity;
  private readonly now: () => number;
  private flushTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private drained!: () => void;
  private readonly whenDrained = new Promise<void>((resolve) => (this.drained = resolve));

  constructor(
    private readonly api: WorkerApi,
    private readonly runner: CommandRunner,
    private readonly options: WorkerLoopOptions,
  ) {
    this.now = options.now ?? monotonicMs;
  }

  /** Runs until stopped and drained; resolves with the exit code. */
  async run(): Promise<number> {
    let registration: Registration;
    try {
      registration = await this.api.register(
        { hostname: this.options.hostname, pid: this.options.pid, concurrency: this.options.concurrency },
        { signal: this.quit.signal },
      );
    } catch (e) {
      if (e instanceof CallAborted) return this.exitCode;
      throw e;
    }
    this.workerId = registration.id;
    this.settings = registration;
    this.log(`worker ${this.workerId} started (pid ${this.options.pid}, runs up to ${this.options.concurrency} job(s) at once)`);
    this.scheduleHeartbeat();
    this.scheduleWatch();
    this.scheduleFlush();
    this.armIdleTimer();
    this.fill();
    await this.whenDrained;
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.watchTimer);
    clearTimeout(this.flushTimer);
    clearTimeout(this.idleTimer);
    // A heartbeat that reached the service after the deregistration would find this worker
    // gone and register it again, a live worker that nobody runs: it lands first.
    await this.beating;
    await this.api.deregister({ patienceMs: 2000 }).catch(() => undefined);
    this.log(`worker ${this.workerId} stopped`);
    return this.exitCode;
  }

  /** Claims nothing more, lets the running jobs finish and reports them; then run() resolves. Idempotent. */
  stop(why: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.quit.abort();
    clearTimeout(this.idleTimer);
    const n = this.running.size;
    this.log(`stopping (${why}): ${n === 0 ? 'no job running' : `waiting for ${n} running job(s) to finish`}`);
    this.releaseSpares(() => true);
    // Answers this worker's waiting claim at once, so the drain does not wait for its timeout.
    if (this.workerId) this.api.stopping({ patienceMs: 1000 }).catch(() => undefined);
    // A service that stays away longer than a lease has recovered the jobs anyway.
    if (this.settings) setTimeout(() => this.abandon.abort(), this.settings.lease_timeout_ms).unref();
    this.checkDrained();
  }

  /** Stops at once: kills the running commands, reports them failed (so they are retried) and leaves. */
  kill(why: string): void {
    this.stop(why);
    if (this.forced) return;
    this.forced = true;
    this.exitCode = 1;
    this.log(`stopping now (${why}): killing ${this.running.size} running command(s); their jobs will be retried`);
    for (const slot of this.running.values()) slot.command.stop('interrupted: worker stopped', FORCED_KILL_GRACE_MS);
    setTimeout(() => this.abandon.abort(), FORCED_REPORT_MS).unref();
    this.checkDrained();
  }

  /** Claims jobs for every slot neither running nor promised to a claim in flight. */
  private fill(): void {
    if (this.stopping) return this.checkDrained();
    const free = this.options.concurrency - this.held();
    if (free <= 0) return;
    this.reserved += free;
    const sentAt = this.now();
    // A job's lease may start as soon as the claim arrives, so a long-poll must not wait so long
    // that the lease is nearly over by the time the answer comes back.
    const budget = this.budget();
    const waitMs = Math.min(CLAIM_WAIT_MS, Math.max(100, Math.floor((budget.leaseMs - budget.marginMs) / 2)));
    this.api.claim(free, waitMs, { signal: this.quit.signal }).then(
      (answer) => {
        this.reserved -= free;
        this.accept(answer, sentAt);
        this.fill();
      },
      (e) => {
        this.reserved -= free;
        if (e instanceof CallAborted || this.stopping) return this.checkDrained();
        this.log(`claim failed: ${(e as Error).message}`);
        setTimeout(() => this.fill(), 1000).unref();
      },
    );
  }

  private accept(answer: ClaimAnswer, claimSentAt: number): void {
    const now = this.now();
    for (const job of answer.jobs) this.spares.push({ job, claimedAt: now, claimSentAt });
    this.startSpares();
    if (answer.stop) this.stop('asked to by the service');
  }

  /** Jobs this worker holds: running, spare, or promised to a claim in flight. */
  private held(): number {
    return this.running.size + this.spares.length + this.reserved;
  }

  /** Starts spares on free slots; the others wait a moment for a slot, then go back. */
  private startSpares(): void {
    // Claimed while the stop was on its way: give them back untouched, for another worker.
    if (this.stopping) return this.releaseSpares(() => true);
    // Claimed so long ago that the lease may have ended (the answer came late, or this process was
    // stopped or starved meanwhile): the job may be another worker's by now. Handed back unstarted.
    const now = this.now();
    const stale = (s: Spare) => now >= this.leaseDeadline(s.claimSentAt);
    for (const s of this.spares.filter(stale)) this.log(`job ${s.job.id}: its lease may have ended before it could start; handing it back unstarted`);
    this.releaseSpares(stale);
    while (this.running.size < this.options.concurrency && this.spares.length > 0) this.start(this.spares.shift()!);
    if (this.spares.length > 0 && !this.spareTimer) {
      this.spareTimer = setTimeout(() => {
        this.spareTimer = undefined;
        const before = this.now() - PREFETCH_HOLD_MS;
        this.releaseSpares((s) => s.claimedAt <= before);
        if (this.spares.length > 0) this.startSpares();
      }, PREFETCH_HOLD_MS);
    }
  }

  private releaseSpares(which: (s: Spare) => boolean): void {
    const going = this.spares.filter(which);
    if (going.length === 0) return;
    this.spares = this.spares.filter((s) => !which(s));
    for (const s of going) this.toRelease.push({ id: s.job.id, lease: s.job.lease });
    this.queueReport();
  }

  /**
   * Spares to hold while recent jobs were short: enough for each slot to keep running while a
   * report is answered (a report takes `reportMs`, a job `job`); none while jobs are long.
   */
  private prefetch(): number {
    if (this.recent.length < RECENT_JOBS / 2) return 0;
    const job = [...this.recent].sort((a, b) => a - b)[this.recent.length >> 1];
    if (job >= PREFETCH_MAX_JOB_MS) return 0;
    const perSlot = Math.min(MAX_SPARES_PER_SLOT, 1 + Math.ceil((this.reportMs + REPORT_GATHER_MS) / Math.max(1, job)));
    return this.options.concurrency * perSlot;
  }

  /** Until when a run claimed at `claimSentAt` surely holds its lease, with no heartbeat since. */
  private leaseDeadline(claimSentAt: number): number {
    const budget = this.budget();
    return claimSentAt + budget.leaseMs - budget.marginMs;
  }

  private start({ job, claimSentAt }: Spare): void {
    clearTimeout(this.idleTimer);
    const deadline = this.leaseDeadline(claimSentAt);
    const slot: Slot = { job, pending: new OutputBuffer(), finishing: false, lost: false, startedAt: this.now(), deadline, fenced: false, command: undefined as unknown as RunningCommand };
    this.running.set(job.id, slot);
    // Usually a later deadline than the watchdog's (the claim went out after the last heartbeat).
    if (deadline < this.guardDeadline) this.tellWatchdog(deadline);
    if (this.options.verbose) this.log(`job ${job.id} (attempt ${job.attempt}) started: ${job.command}`);
    slot.command = this.runner.start({
      command: job.command,
      env: this.options.environment(job),
      cwd: job.cwd ?? undefined,
      timeoutMs: job.timeout_seconds ? job.timeout_seconds * 1000 : null,
      outputLimitBytes: this.settings.output_limit_bytes,
      onOutput: (bytes) => slot.pending.push(bytes),
    });
    void slot.command.done.then((outcome) => this.finish(slot, outcome));
  }

  private async finish(slot: Slot, outcome: CommandOutcome): Promise<void> {
    slot.finishing = true;
    // An output batch on its way must land before the report closes the run.
    await this.flushing;
    const { job } = slot;
    // A large tail goes ahead in output messages of its own; the report carries the last piece.
    // They are retried as long as the report would be: output given up is reported as cut.
    let undelivered = false;
    while (slot.pending.length > REPORT_TAIL_BYTES && !slot.lost && !undelivered) {
      const piece = slot.pending.take(OUTPUT_CHUNK_BYTES);
      try {
        const patienceMs = this.stopping ? this.settings.lease_timeout_ms : undefined;
        const answer = await this.api.output([outputChunk(job, piece)], { signal: this.abandon.signal, patienceMs });
        if (answer.refused.includes(job.id)) slot.lost = true;
      } catch {
        slot.pending.putBack(piece);
        undelivered = true;
      }
    }
    const tail = undelivered ? { offset: slot.pending.offset, data: Buffer.alloc(0) } : slot.pending.take(Infinity);
    if (slot.lost) {
      this.running.delete(job.id);
      this.log(`job ${job.id}: its lease was lost (the service gave it to another worker); result not reported`);
      this.afterJob();
      return;
    }
    const result: RunResult = {
      id: job.id,
      lease: job.lease,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      error: outcome.error,
      output_base64: tail.data.toString('base64'),
      output_offset: tail.offset,
      truncated: outcome.truncated || undelivered,
    };
    const took = this.now() - slot.startedAt;
    this.describe(job, result, took);
    this.recent.push(took);
    if (this.recent.length > RECENT_JOBS) this.recent.shift();
    this.reporting.set(job.id, { id: job.id, lease: job.lease });
    this.running.delete(job.id);
    // A spare takes the slot now; the report goes out meanwhile.
    this.startSpares();
    this.toReport.push(result);
    this.queueReport();
  }

  /**
   * One report in flight at a time: results that end meanwhile wait for it and go together in
   * the next one, so under load one request and one commit carry several jobs.
   */
  private queueReport(): void {
    if (this.reportsInFlight > 0) return;
    if (this.reportQueued && !this.gatherTimer) return;
    if (this.gathering()) {
      if (!this.reportQueued) {
        this.reportQueued = true;
        this.gatherTimer = setTimeout(() => void this.sendReport(), REPORT_GATHER_MS);
      }
      return;
    }
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    this.reportQueued = true;
    setImmediate(() => void this.sendReport());
  }

  /**
   * Whether the next report may wait for more results: only while every slot has a spare to go
   * on with (the report also claims the next ones), nothing is to be given back, and the worker
   * is not stopping.
   */
  private gathering(): boolean {
    if (this.stopping || this.toRelease.length > 0 || this.toReport.length >= this.options.concurrency * REPORT_GATHER_PER_SLOT) return false;
    return this.prefetch() > 0 && this.spares.length >= this.options.concurrency;
  }

  private async sendReport(): Promise<void> {
    this.reportQueued = false;
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    const results = this.toReport.splice(0);
    const released = this.toRelease.splice(0);
    const claim = this.stopping ? 0 : Math.max(0, this.options.concurrency + this.prefetch() - this.held());
    this.reserved += claim;
    this.reportsInFlight++;
    try {
      const patienceMs = this.stopping ? this.settings.lease_timeout_ms : undefined;
      const sentAt = this.now();
      const answer = await this.api.report(results, released, claim, { signal: this.abandon.signal, patienceMs });
      const took = this.now() - sentAt;
      this.reportMs = this.reportMs === 0 ? took : 0.8 * this.reportMs + 0.2 * took;
      this.reserved -= claim;
      for (const id of answer.refused) {
        this.log(`job ${id}: report refused, the run had lost its lease (the job was recovered and runs again)`);
      }
      this.accept(answer, sentAt);
    } catch (e) {
      this.reserved -= claim;
      const ids = [...results, ...released].map((r) => r.id).join(', ');
      this.log(`could not report job(s) ${ids}: ${(e as Error).message}; the service will recover them when their lease expires`);
    } finally {
      this.reportsInFlight--;
      for (const r of results) this.reporting.delete(r.id);
    }
    if (this.toReport.length > 0 || this.toRelease.length > 0) this.queueReport();
    this.afterJob();
  }

  private afterJob(): void {
    this.startSpares();
    this.armIdleTimer();
    this.fill();
    this.checkDrained();
  }

  private checkDrained(): void {
    if (!this.stopping) return;
    const busy = this.held() + this.reportsInFlight + this.toReport.length + this.toRelease.length;
    if (busy === 0 && !this.reportQueued) this.drained();
  }

  private armIdleTimer(): void {
    const idleMs = this.options.idleTimeoutMs;
    if (idleMs === null || this.stopping || this.running.size + this.spares.length + this.reporting.size > 0) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.running.size === 0) this.stop(`idle for ${idleMs / 1000} s`);
    }, idleMs);
  }

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = setTimeout(() => (this.beating = this.heartbeat()), this.settings.heartbeat_interval_ms);
  }

  private async heartbeat(): Promise<void> {
    const running = [...this.running.values()].filter((s) => !s.lost).map((s) => ({ id: s.job.id, lease: s.job.lease }));
    const spares = this.spares.map((s) => ({ id: s.job.id, lease: s.job.lease }));
    // Counted from the send: the service writes the new expiries after this moment.
    const sentAt = this.now();
    const leaseMs = this.settings.lease_timeout_ms;
    try {
      const answer = await this.api.heartbeat([...running, ...spares, ...this.reporting.values()], {
        patienceMs: this.settings.heartbeat_interval_ms,
      });
      this.renewed(running, answer.lost, sentAt, Math.min(leaseMs, answer.lease_timeout_ms));
      this.settings = {
        heartbeat_interval_ms: answer.heartbeat_interval_ms,
        lease_timeout_ms: answer.lease_timeout_ms,
        output_limit_bytes: answer.output_limit_bytes,
      };
      // A spare that was lost is dropped; a cancelled one is reported as such without running.
      const lost = new Set(answer.lost);
      const cancelled = new Set(answer.cancel);
      for (const s of this.spares.filter((x) => cancelled.has(x.job.id) && !lost.has(x.job.id))) {
        const none = { output_base64: '', output_offset: 0, truncated: false };
        this.toReport.push({ id: s.job.id, lease: s.job.lease, exit_code: null, signal: null, error: 'cancelled', ...none });
        this.queueReport();
      }
      this.spares = this.spares.filter((s) => !lost.has(s.job.id) && !cancelled.has(s.job.id));
      for (const id of answer.lost) {
        const slot = this.running.get(id);
        if (!slot || slot.lost) continue;
        slot.lost = true;
        this.log(`job ${id}: the service no longer holds this run's lease; stopping its command`);
        slot.command.stop('lease lost');
      }
      for (const id of answer.cancel) {
        const slot = this.running.get(id);
        if (!slot) continue;
        this.log(`job ${id}: cancelled; stopping its command`);
        slot.command.stop('cancelled');
      }
      if (answer.stop) this.stop('asked to by the service');
    } catch {
      // The API client has said the service is unreachable; the next beat tries again.
    } finally {
      if (!this.isDone()) this.scheduleHeartbeat();
    }
  }

  /** The lease budget of the lease-timeout the service last told. */
  private budget() {
    return leaseBudget(this.settings.lease_timeout_ms);
  }

  /** A heartbeat sent at `sentAt` was answered: the leases it renewed last until sentAt + lease at least. */
  private renewed(sent: RunRef[], lost: string[], sentAt: number, leaseMs: number): void {
    const { marginMs, killGraceMs } = leaseBudget(leaseMs);
    const until = sentAt + leaseMs - marginMs;
    const gone = new Set(lost);
    for (const ref of sent) {
      const slot = this.running.get(ref.id);
      if (slot && slot.job.lease === ref.lease && !gone.has(ref.id)) slot.deadline = Math.max(slot.deadline, until);
    }
    // Commands that start before the next heartbeat are covered too: their claims went out later.
    let deadline = until;
    for (const slot of this.running.values()) if (!slot.lost) deadline = Math.min(deadline, slot.deadline);
    this.tellWatchdog(deadline, killGraceMs);
  }

  private tellWatchdog(deadline: number, graceMs = this.budget().killGraceMs): void {
    this.guardDeadline = deadline;
    this.options.watchdog?.(deadline, graceMs);
  }

  /**
   * The in-process half of the watchdog: a command whose lease could not be renewed in time is
   * stopped before the lease can end. (The orphan guard does the same from outside, should this
   * process be frozen or stopped.) Its run is reported failed, to be retried.
   */
  private scheduleWatch(): void {
    const { marginMs, killGraceMs } = this.budget();
    this.watchTimer = setTimeout(() => {
      const now = this.now();
      for (const slot of this.running.values()) {
        if (slot.finishing || slot.lost || slot.fenced || now < slot.deadline) continue;
        slot.fenced = true;
        this.log(`job ${slot.job.id}: no heartbeat answered in time to renew its lease; stopping its command before the lease can end`);
        slot.command.stop('lease not renewed', killGraceMs);
      }
      if (!this.isDone()) this.scheduleWatch();
    }, Math.max(10, Math.min(100, marginMs / 4)));
    this.watchTimer.unref();
  }

  /** Ctrl+Z: the commands stop with the worker (SIGSTOP to each group). */
  suspend(): void {
    for (const slot of this.running.values()) slot.command.pause();
  }

  /** After Ctrl+Z, fg: a command whose lease may have ended meanwhile is killed, never continued. */
  resume(): void {
    const now = this.now();
    for (const slot of this.running.values()) {
      if (now < slot.deadline && !slot.lost && !slot.fenced) {
        slot.command.resume();
        continue;
      }
      if (!slot.lost && !slot.fenced) this.log(`job ${slot.job.id}: its lease may have ended while the worker was stopped; killing its command`);
      slot.fenced = true;
      slot.command.killPaused('lease not renewed');
    }
  }

  private scheduleFlush(): void {
    this.flushTimer = setTimeout(() => {
      this.flushing = this.flushOutput().finally(() => !this.isDone() && this.scheduleFlush());
    }, OUTPUT_FLUSH_MS);
  }

  private async flushOutput(): Promise<void> {
    for (;;) {
      const writing = [...this.running.values()].filter((s) => !s.finishing && !s.lost && s.pending.length > 0);
      if (writing.length === 0) return;
      // Many jobs writing fast share the message: each gets an equal part.
      const share = Math.min(OUTPUT_CHUNK_BYTES, Math.floor(OUTPUT_MESSAGE_BYTES / writing.length));
      const batch = writing.map((slot) => ({ slot, piece: slot.pending.take(share) }));
      try {
        const answer = await this.api.output(
          batch.map(({ slot, piece }) => outputChunk(slot.job, piece)),
          { patienceMs: 5000 },
        );
        for (const id of answer.refused) {
          const slot = this.running.get(id);
          if (slot && !slot.finishing && !slot.lost) {
            slot.lost = true;
            this.log(`job ${id}: the service refused its output (lease lost); stopping its command`);
            slot.command.stop('lease lost');
          }
        }
      } catch {
        // Sent again with the next batch (or the report), at the same offsets: a copy that did
        // get through is not stored twice. What waits is bounded by the output limit.
        for (const { slot, piece } of batch) slot.pending.putBack(piece);
        return;
      }
      // A command writing faster than a chunk a flush: send on at once rather than fall behind,
      // unless a job that ended waits for this flush to report.
      const behind = writing.some((s) => !s.finishing && !s.lost && s.pending.length >= share);
      if (!behind || [...this.running.values()].some((s) => s.finishing)) return;
    }
  }

  private isDone(): boolean {
    return this.stopping && this.held() + this.reportsInFlight === 0;
  }

  private describe(job: ClaimedJob, r: RunResult, ms: number): void {
    const ok = r.exit_code === 0 && !r.signal && !r.error;
    if (ok && !this.options.verbose) return;
    const how = r.error ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exit_code}`);
    // The service's rule (attempt-policy): a cancelled job, or one with no retries left, is dead.
    const last = r.error === 'cancelled' || job.attempt > job.max_retries;
    const after = ok ? '' : last ? '; no retries left: moved to the DLQ (queuectl dlq list)' : '; will be retried';
    this.log(`job ${job.id} (attempt ${job.attempt}) ${ok ? 'succeeded' : `failed: ${how}`} after ${ms} ms${after}`);
  }

  private log(line: string): void {
    this.options.log(line);
  }
}

function outputChunk(job: ClaimedJob, piece: OutputPiece): OutputChunk {
  return { id: job.id, lease: job.lease, offset: piece.offset, data_base64: piece.data.toString('base64'), truncated: false };
}
