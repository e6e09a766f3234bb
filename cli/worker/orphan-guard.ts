import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * The worker's side of the orphan guard (see orphan-guard-main.ts). Node cannot set the kernel's
 * parent-death signal on a child, and that signal would reach only `/bin/sh` anyway, not the
 * rest of the command's process group. So each worker keeps one watcher process, in its own
 * session (a signal to the worker's process group does not reach it), that kills the groups of
 * the running commands when the worker's end of a pipe closes without a goodbye.
 *
 * Telling it about a group is one line on a pipe, written right after the spawn in the same
 * tick: the cost per job is a write, not an extra exec.
 */
export class OrphanGuard {
  private child?: ChildProcess;
  private broken = false;

  constructor(private readonly log: (line: string) => void) {}

  start(): void {
    const program = join(__dirname, 'orphan-guard-main.js');
    this.child = spawn(process.execPath, [program], { detached: true, stdio: ['pipe', 'ignore', 'inherit'] });
    this.child.on('error', (e) => this.fail(e));
    this.child.stdin!.on('error', (e) => this.fail(e));
    this.child.on('exit', () => this.fail(new Error('it exited')));
    // Neither the guard nor its pipe may keep the worker alive.
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  watch(pgid: number): void {
    this.send(`+${pgid}`);
  }

  forget(pgid: number): void {
    this.send(`-${pgid}`);
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
