import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { monotonicMs } from './monotonic-clock';
import { ORPHAN_GUARD_SCRIPT } from './orphan-guard-script';

/** Where the kernel shows each process's environment; without it the guard is told every group. */
const PROC_ENVIRON = existsSync('/proc/self/environ');

/**
 * The worker's side of the orphan guard (see orphan-guard-script.ts). Node cannot set the kernel's
 * parent-death signal on a child, and that signal would reach only `/bin/sh` anyway, not what
 * the command starts. So each worker keeps one watcher process, in its own session (a signal
 * to the worker's process group does not reach it), that kills what the worker's commands left
 * when the worker's end of a pipe closes without a goodbye.
 *
 * On Linux the commands are found by a mark in their environment, so a job costs nothing here
 * (an earlier version wrote each process group to the pipe: two pipe writes and two wake-ups of
 * the guard per job, a fifth of the worker's time on `true` jobs). Elsewhere the groups are sent.
 */
export class OrphanGuard {
  /** Put into every command's environment as QUEUECTL_RUN_MARK. */
  readonly mark = randomBytes(9).toString('base64url');
  private child?: ChildProcess;
  private broken = false;
  /** The last deadline told before start(), told again at start. */
  private early?: { deadline: number; graceMs: number };

  constructor(private readonly log: (line: string) => void) {}

  /** Starts the guard process; once only, and not after close() (a worker that ran nothing). */
  start(): void {
    if (this.child || this.broken) return;
    // A shell, not a Node process: it starts in a millisecond, beside the worker's first commands.
    this.child = spawn('/bin/sh', ['-c', ORPHAN_GUARD_SCRIPT, 'queuectl-orphan-guard', this.mark], { detached: true, stdio: ['pipe', 'ignore', 'inherit'] });
    this.child.on('error', (e) => this.fail(e));
    this.child.stdin!.on('error', (e) => this.fail(e));
    this.child.on('exit', () => this.fail(new Error('it exited')));
    // Neither the guard nor its pipe may keep the worker alive.
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
    if (this.early) this.deadline(this.early.deadline, this.early.graceMs);
  }

  watch(pgid: number): void {
    if (!PROC_ENVIRON) this.send(`+${pgid}`);
  }

  forget(pgid: number): void {
    if (!PROC_ENVIRON) this.send(`-${pgid}`);
  }

  /**
   * The worker's commands may run until `deadline` (monotonicMs()); past it, unless moved on
   * again, the guard ends them all: SIGTERM, then SIGKILL `graceMs` later.
   */
  deadline(deadline: number, graceMs: number): void {
    // A worker may hear from the service (a heartbeat) before its guard starts; no command runs before.
    if (!this.child) this.early = { deadline, graceMs };
    // The shell has no monotonic clock: it is told the time left, which it counts from reading it.
    this.send(`D ${Math.max(0, Math.floor(deadline - monotonicMs()))} ${Math.max(0, Math.round(graceMs))}`);
  }

  /** The worker is exiting normally: the guard leaves without killing anything. */
  close(): void {
    this.send('bye');
    this.child?.stdin?.end();
    this.broken = true;
  }

  private send(line: string): void {
    if (this.broken || !this.child?.stdin) return;
    this.child.stdin.write(`${line}\n`);
  }

  private fail(e: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.log(`the orphan guard stopped (${e.message}); commands of a killed worker may outlive it`);
  }
}
