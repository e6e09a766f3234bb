import { ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { monotonicMs } from './monotonic-clock';
import { OrphanGuard } from './orphan-guard';

/** Why the worker ended a command itself; kept as the attempt's reason. */
export type StopReason = 'timeout' | 'cancelled' | 'lease lost' | 'lease not renewed' | 'interrupted: worker stopped';

export interface CommandOutcome {
  exitCode: number | null;
  signal: string | null;
  /** Set when the worker ended the command, or could not start it. */
  error: string | null;
  /** Output past the limit was dropped. */
  truncated: boolean;
}

export interface RunOptions {
  command: string;
  env: NodeJS.ProcessEnv;
  /** The directory to run in; the worker's own when absent. */
  cwd?: string;
  timeoutMs: number | null;
  /** Bytes of output passed on; the rest is read and dropped, so the command never blocks. */
  outputLimitBytes: number;
  /** Output as the command wrote it (stdout and stderr as they come): bytes, never decoded here. */
  onOutput: (bytes: Buffer) => void;
}

/** How long a signalled process group gets between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 5000;
/** The longest delay setTimeout takes as given. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After the shell exits, how long its output pipes may stay open (a background child writing on). */
const PIPE_DRAIN_MS = 500;

/** One command being run: `/bin/sh -c` as the leader of a process group of its own. */
export class RunningCommand {
  readonly done: Promise<CommandOutcome>;
  private readonly child: ChildProcess;
  private stopReason: StopReason | null = null;
  private killTimer?: NodeJS.Timeout;
  private timeoutTimer?: NodeJS.Timeout;
  private taken = 0;
  private truncated = false;
  private settled = false;

  constructor(
    options: RunOptions,
    private readonly guard: OrphanGuard | undefined,
    private readonly killGraceMs: number,
  ) {
    // detached: the command leads a new session and process group, so Ctrl+C at the worker's
    // terminal (SIGINT to the worker's group) does not reach it, and a timeout or cancel can
    // signal everything it started at once.
    this.child = spawn('/bin/sh', ['-c', options.command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: options.env, cwd: options.cwd });
    if (this.child.pid) this.guard?.watch(this.child.pid);
    this.done = this.watch(options);
    if (options.timeoutMs !== null && options.timeoutMs > 0) this.armTimeout(options.timeoutMs);
  }

  /**
   * setTimeout holds at most 2^31-1 ms (24.8 days) and fires at once for more, while a job may
   * ask for 30 days: a longer wait is taken in steps.
   */
  private armTimeout(remainingMs: number): void {
    const step = Math.min(remainingMs, MAX_TIMER_MS);
    this.timeoutTimer = setTimeout(() => (remainingMs > step ? this.armTimeout(remainingMs - step) : this.stop('timeout')), step);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Ends the command's whole process group: SIGTERM, then SIGKILL after the grace period. */
  stop(reason: StopReason, graceMs = this.killGraceMs): void {
    if (this.stopReason !== null || this.settled || this.child.pid === undefined) return;
    this.stopReason = reason;
    signalGroup(this.child.pid, 'SIGTERM');
    this.killTimer = setTimeout(() => signalGroup(this.child.pid!, 'SIGKILL'), graceMs);
  }

  /** Stops the command's whole group where it is (SIGSTOP), as Ctrl+Z stops its worker. */
  pause(): void {
    if (!this.settled && this.child.pid !== undefined) signalGroup(this.child.pid, 'SIGSTOP');
  }

  /** Lets a paused group go on (SIGCONT). */
  resume(): void {
    if (!this.settled && this.child.pid !== undefined) signalGroup(this.child.pid, 'SIGCONT');
  }

  /**
   * Ends a paused group without letting it run another instruction: SIGKILL is acted on even by
   * a stopped process, where SIGTERM would wait for a SIGCONT.
   */
  killPaused(reason: StopReason): void {
    if (this.settled || this.child.pid === undefined) return;
    this.stopReason ??= reason;
    signalGroup(this.child.pid, 'SIGKILL');
    signalGroup(this.child.pid, 'SIGCONT');
  }

  private watch(options: RunOptions): Promise<CommandOutcome> {
    return new Promise<CommandOutcome>((resolve) => {
      const take = (chunk: Buffer) => {
        const room = options.outputLimitBytes - this.taken;
        if (room <= 0) {
          this.truncated = true;
          return;
        }
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        if (part.length < chunk.length) this.truncated = true;
        this.taken += part.length;
        options.onOutput(part);
      };
      this.child.stdout!.on('data', take);
      this.child.stderr!.on('data', take);

      let exit: { code: number | null; signal: string | null } | undefined;
      const settle = (error: string | null) => {
        if (this.settled) return;
        this.settled = true;
        clearTimeout(this.timeoutTimer);
        const pid = this.child.pid;
        if (pid !== undefined) this.endGroup(pid);
        resolve({
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          error: error ?? this.stopReason,
          truncated: this.truncated,
        });
      };
      this.child.once('error', (e: NodeJS.ErrnoException) => settle(startFailure(e, options.cwd)));
      this.child.once('exit', (code, signal) => {
        exit = { code, signal };
        // Normally the pipes close right after; a background child still holding them must
        // not hold the job, so after a short wait the group is ended and the pipes dropped.
        setTimeout(() => {
          if (this.settled) return;
          this.child.stdout?.destroy();
          this.child.stderr?.destroy();
          settle(null);
        }, PIPE_DRAIN_MS).unref();
      });
      this.child.once('close', () => settle(null));
    });
  }

  /**
   * The shell has exited; whatever it left running in its group (`cmd &`) ends with the job:
   * SIGTERM, then SIGKILL. A process that wants to outlive its job must leave the group (setsid).
   */
  private endGroup(pgid: number): void {
    const forget = () => {
      clearTimeout(this.killTimer);
      this.guard?.forget(pgid);
    };
    if (!groupAlive(pgid)) return forget();
    if (this.stopReason === null) signalGroup(pgid, 'SIGTERM');
    const deadline = monotonicMs() + this.killGraceMs;
    const check = () => {
      if (!groupAlive(pgid)) return forget();
      if (monotonicMs() >= deadline) {
        signalGroup(pgid, 'SIGKILL');
        return forget();
      }
      setTimeout(check, 50).unref();
    };
    setTimeout(check, 50).unref();
  }
}

/** Starts commands; one per worker, shared by its slots. */
export class CommandRunner {
  constructor(
    private readonly guard?: OrphanGuard,
    private readonly killGraceMs = DEFAULT_KILL_GRACE_MS,
  ) {}

  start(options: RunOptions): RunningCommand {
    return new RunningCommand(options, this.guard, this.killGraceMs);
  }
}

/**
 * Why a command could not start. A missing or unusable directory shows as the shell's ENOENT or
 * EACCES from spawn, which would blame /bin/sh: the directory is named instead.
 */
function startFailure(e: NodeJS.ErrnoException, cwd: string | undefined): string {
  if (cwd !== undefined) {
    try {
      if (!statSync(cwd).isDirectory()) return `cwd is not a directory: ${cwd}`;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' || code === 'ENOTDIR' ? `cwd does not exist: ${cwd}` : `cwd cannot be used: ${cwd} (${code})`;
    }
    if (e.code === 'EACCES') return `cwd cannot be entered: ${cwd} (EACCES)`;
  }
  return `could not start the command: ${e.code ?? e.message}`;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is gone already */
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
