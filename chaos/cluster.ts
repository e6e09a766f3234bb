import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Endpoint } from '../cli/http';
import { answers } from '../cli/locate';
import { TcpProxy, startTcpProxy } from './tcp-proxy';

/**
 * The processes of a chaos run, each started the way a user would: the service (`queuectl
 * serve`) in a session of its own, and `queuectl worker start` processes each in a process group
 * of its own within the harness's session — as a shell with job control runs a foreground job —
 * so a SIGTSTP to the group stops it (the kernel drops SIGTSTP to an orphaned group, which a
 * group in a session of its own would be). One worker talks to the service through the TCP proxy.
 */

export type WorkerState = 'starting' | 'up' | 'stopped' | 'suspended' | 'down';

export interface ClusterOptions {
  home: string;
  cli: string;
  port: number;
  token: string;
  workers: number;
  /** Jobs each worker runs at once (`worker start --count`). */
  slots: number;
  log: (line: string) => void;
}

interface Proc {
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
}

export class ChaosWorker {
  state: WorkerState = 'down';
  proc?: Proc;
  constructor(
    readonly name: string,
    readonly viaProxy: boolean,
  ) {}
}

/** Longest wait for a started service to answer, and for a started worker to register. */
const START_TIMEOUT_MS = 60_000;
/** Graceful stops at the end: how long before SIGKILL. */
const STOP_TIMEOUT_MS = 30_000;

// Puts the program in a process group of its own without leaving the session, then execs it.
const OWN_GROUP = ['-MPOSIX', '-e', 'POSIX::setpgid(0, 0) or die "setpgid: $!\\n"; exec @ARGV or die "exec: $!\\n"', '--'];

export class Cluster {
  readonly workers: ChaosWorker[];
  readonly endpoint: Endpoint;
  serviceUp = false;
  private service?: Proc;
  private proxy?: TcpProxy;
  /** Every process started, for the last-resort cleanup. */
  private readonly procs = new Set<Proc>();

  constructor(private readonly options: ClusterOptions) {
    this.endpoint = { url: `http://127.0.0.1:${options.port}`, token: options.token };
    this.workers = Array.from({ length: options.workers }, (_, i) => new ChaosWorker(i === 0 ? 'w0-proxy' : `w${i}`, i === 0));
  }

  get proxyFrozen(): boolean {
    return this.proxy?.frozen ?? false;
  }

  async start(): Promise<void> {
    this.proxy = await startTcpProxy(this.options.port);
    await this.startService();
  }

  async startWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.startWorker(w)));
  }

  private env(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUEUECTL_')) env[k] = v;
    return { ...env, QUEUECTL_HOME: this.options.home, QUEUECTL_TOKEN: this.options.token, ...extra };
  }

  private spawn(command: string, args: string[], env: NodeJS.ProcessEnv, logName: string, detached: boolean, onLine?: (line: string) => void): Proc {
    const child = spawn(command, args, { env, detached, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = createWriteStream(join(this.options.home, logName), { flags: 'a' });
    let partial = '';
    const take = (chunk: Buffer) => {
      out.write(chunk);
      if (!onLine) return;
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) onLine(line);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    const proc: Proc = {
      child,
      pid: child.pid!,
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    this.procs.add(proc);
    void proc.exited.then(() => {
      this.procs.delete(proc);
      out.end();
    });
    return proc;
  }

  /** Starts the service on the run's port and waits until it answers; tries again if it exits at once. */
  async startService(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      const proc = this.spawn(process.execPath, [this.options.cli, 'serve', '--port', String(this.options.port)], this.env({}), 'service.out', true);
      let gone = false;
      void proc.exited.then(() => (gone = true));
      while (!gone && Date.now() < deadline) {
        if (await answers(this.endpoint)) {
          this.service = proc;
          this.serviceUp = true;
          return;
        }
        await sleep(100);
      }
      if (!gone) {
        killGroup(proc.pid);
        await proc.exited;
      }
      if (Date.now() >= deadline) throw new Error(`the service did not start within ${START_TIMEOUT_MS / 1000} s; see ${join(this.options.home, 'service.out')}`);
      this.options.log(`the service exited at start (attempt ${attempt}); starting it again`);
      await sleep(500);
    }
  }

  async killService(): Promise<void> {
    const proc = this.service;
    this.serviceUp = false;
    this.service = undefined;
    if (!proc) return;
    killGroup(proc.pid);
    // Reaped before anything restarts: the new service never meets the old one's zombie.
    await proc.exited;
  }

  /** Starts a worker once the service answers (a worker started without one would start one itself). */
  async startWorker(w: ChaosWorker): Promise<void> {
    while (!this.serviceUp) await sleep(100);
    w.state = 'starting';
    const extra: Record<string, string> = { CHAOS_WORKER: w.name };
    if (w.viaProxy) extra.QUEUECTL_URL = `http://127.0.0.1:${this.proxy!.port}`;
    let registered!: () => void;
    const ready = new Promise<void>((resolve) => (registered = resolve));
    const proc = this.spawn(
      'perl',
      [...OWN_GROUP, process.execPath, this.options.cli, 'worker', 'start', '--count', String(this.options.slots)],
      this.env(extra),
      `worker-${w.name}.out`,
      false,
      (line) => / started \(pid \d+/.test(line) && registered(),
    );
    w.proc = proc;
    const outcome = await Promise.race([
      ready.then(() => 'up' as const),
      proc.exited.then(() => 'exited' as const),
      sleep(START_TIMEOUT_MS).then(() => 'timeout' as const),
    ]);
    if (outcome !== 'up') {
      killGroup(proc.pid);
      await proc.exited;
      w.state = 'down';
      throw new Error(`worker ${w.name} did not start (${outcome}); see ${join(this.options.home, `worker-${w.name}.out`)}`);
    }
    w.state = 'up';
  }

  async killWorker(w: ChaosWorker): Promise<void> {
    const proc = w.proc;
    w.state = 'down';
    if (!proc) return;
    killGroup(proc.pid);
    await proc.exited;
  }

  /** SIGSTOP of the worker's main process alone, as `kill -STOP <pid>` does. */
  stopWorker(w: ChaosWorker): void {
    signal(w.proc!.pid, 'SIGSTOP');
    w.state = 'stopped';
  }

  /** Ctrl+Z at the worker's terminal: SIGTSTP to its whole process group. */
  suspendWorker(w: ChaosWorker): void {
    signal(-w.proc!.pid, 'SIGTSTP');
    w.state = 'suspended';
  }

  /** SIGCONT (fg): to the group after Ctrl+Z, to the process after SIGSTOP. */
  resumeWorker(w: ChaosWorker): void {
    if (w.state === 'suspended') signal(-w.proc!.pid, 'SIGCONT');
    else if (w.state === 'stopped') signal(w.proc!.pid, 'SIGCONT');
    else return;
    w.state = 'up';
  }

  freezeProxy(): void {
    this.proxy?.freeze();
  }

  thawProxy(): void {
    this.proxy?.thaw();
  }

  /** The end of a run: workers drain and leave (SIGTERM, as Ctrl+C). */
  async stopWorkers(): Promise<void> {
    this.thawProxy();
    for (const w of this.workers) this.resumeWorker(w);
    await Promise.all(this.workers.map((w) => (w.proc ? stopGroup(w.proc) : undefined)));
    for (const w of this.workers) w.state = 'down';
  }

  /** Then the service stops, and the proxy. */
  async stop(): Promise<void> {
    if (this.service) await stopGroup(this.service);
    this.serviceUp = false;
    await this.proxy?.close();
  }

  /** Last resort (harness failure, Ctrl+C): SIGKILL of every group still alive, synchronously. */
  killEverything(): void {
    for (const proc of this.procs) {
      signal(-proc.pid, 'SIGCONT');
      killGroup(proc.pid);
    }
  }
}

async function stopGroup(proc: Proc): Promise<void> {
  signal(-proc.pid, 'SIGCONT');
  signal(-proc.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(proc.pid), STOP_TIMEOUT_MS);
  await proc.exited;
  clearTimeout(timer);
}

function killGroup(pid: number): void {
  signal(-pid, 'SIGKILL');
  signal(pid, 'SIGKILL');
}

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    /* gone already */
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
