import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
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
 *
 * On PostgreSQL the service is several replicas on one database (each its own port and home),
 * the proxy hands connections to them in turn, as a round-robin balancer does, and each other
 * worker talks to one replica, the replicas taken in turn.
 */

export type WorkerState = 'starting' | 'up' | 'stopped' | 'suspended' | 'down';

export interface ClusterOptions {
  home: string;
  cli: string;
  /** One port per service replica: one on SQLite, several sharing a PostgreSQL database. */
  ports: number[];
  /** PostgreSQL: the database URL (its schema included) every replica uses; unset, SQLite in the home. */
  databaseUrl?: string;
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

/** One service process (`queuectl serve --port`), restarted on the same port and home. */
export class Replica {
  up = false;
  proc?: Proc;
  constructor(
    readonly index: number,
    readonly name: string,
    readonly home: string,
    readonly endpoint: Endpoint,
  ) {}
}

export class ChaosWorker {
  state: WorkerState = 'down';
  proc?: Proc;
  /** The worker ids its processes registered under (a `worker start --count N` runs several). */
  readonly ids = new Set<string>();
  constructor(
    readonly name: string,
    /** The replica it talks to, or the proxy. */
    readonly via: Replica | 'proxy',
  ) {}

  get viaProxy(): boolean {
    return this.via === 'proxy';
  }
}

/**
 * Longest wait for a started service to answer, and for a started worker to register: long, as a
 * machine shared with other work can take a minute to start a Node program under load.
 */
const START_TIMEOUT_MS = 180_000;
/** Graceful stops at the end: how long before SIGKILL. */
const STOP_TIMEOUT_MS = 30_000;

// Puts the program in a process group of its own without leaving the session, then execs it.
const OWN_GROUP = ['-MPOSIX', '-e', 'POSIX::setpgid(0, 0) or die "setpgid: $!\\n"; exec @ARGV or die "exec: $!\\n"', '--'];

export class Cluster {
  readonly replicas: Replica[];
  readonly workers: ChaosWorker[];
  private proxy?: TcpProxy;
  /** Every process started, for the last-resort cleanup. */
  private readonly procs = new Set<Proc>();

  constructor(private readonly options: ClusterOptions) {
    if (options.ports.length === 0) throw new Error('a cluster needs at least one service port');
    if (options.ports.length > 1 && !options.databaseUrl) throw new Error('several replicas need a PostgreSQL database');
    const several = options.ports.length > 1;
    this.replicas = options.ports.map((port, i) => {
      const home = several ? join(options.home, `replica-${i + 1}`) : options.home;
      mkdirSync(home, { recursive: true });
      return new Replica(i, several ? `r${i + 1}` : 'service', home, { url: `http://127.0.0.1:${port}`, token: options.token });
    });
    this.workers = Array.from({ length: options.workers }, (_, i) => {
      if (i === 0) return new ChaosWorker('w0-proxy', 'proxy');
      const replica = this.replicas[(i - 1) % this.replicas.length];
      return new ChaosWorker(several ? `w${i}-${replica.name}` : `w${i}`, replica);
    });
  }

  /** Several replicas on PostgreSQL, or the one SQLite service. */
  get postgres(): boolean {
    return this.options.databaseUrl !== undefined;
  }

  /** The first replica: where the harness sends its own requests. */
  get endpoint(): Endpoint {
    return this.replicas[0].endpoint;
  }

  /** The round-robin proxy in front of every replica. */
  get proxyEndpoint(): Endpoint {
    return { url: `http://127.0.0.1:${this.proxy!.port}`, token: this.options.token };
  }

  /** Some replica is up. */
  get serviceUp(): boolean {
    return this.replicas.some((r) => r.up);
  }

  get proxyFrozen(): boolean {
    return this.proxy?.frozen ?? false;
  }

  async start(): Promise<void> {
    this.proxy = await startTcpProxy(this.options.ports);
    // The first one migrates an empty database; the others then start together.
    await this.startService(this.replicas[0]);
    await Promise.all(this.replicas.slice(1).map((r) => this.startService(r)));
  }

  async startWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.startWorker(w)));
  }

  private env(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUEUECTL_')) env[k] = v;
    return { ...env, QUEUECTL_HOME: home, QUEUECTL_TOKEN: this.options.token, ...extra };
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

  /** Starts a replica on its port and waits until it answers; tries again if it exits at once. */
  async startService(replica: Replica): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const db: Record<string, string> = this.options.databaseUrl ? { QUEUECTL_DATABASE_URL: this.options.databaseUrl } : {};
    const logName = this.replicas.length > 1 ? `service-${replica.name}.out` : 'service.out';
    const port = String(this.options.ports[replica.index]);
    for (let attempt = 1; ; attempt++) {
      const proc = this.spawn(process.execPath, [this.options.cli, 'serve', '--port', port], this.env(replica.home, db), logName, true);
      let gone = false;
      void proc.exited.then(() => (gone = true));
      while (!gone && Date.now() < deadline) {
        if (await answers(replica.endpoint)) {
          replica.proc = proc;
          replica.up = true;
          return;
        }
        await sleep(100);
      }
      if (!gone) {
        killGroup(proc.pid);
        await proc.exited;
      }
      if (Date.now() >= deadline) throw new Error(`${replica.name} did not start within ${START_TIMEOUT_MS / 1000} s; see ${join(this.options.home, logName)}`);
      this.options.log(`${replica.name} exited at start (attempt ${attempt}); starting it again`);
      await sleep(500);
    }
  }

  /** SIGKILL of a replica's process group; resolves once it is reaped. */
  async killService(replica: Replica): Promise<void> {
    const proc = replica.proc;
    replica.up = false;
    replica.proc = undefined;
    if (!proc) return;
    killGroup(proc.pid);
    // Reaped before anything restarts: the new service never meets the old one's zombie.
    await proc.exited;
  }

  /**
   * Starts a worker once its replica answers (on SQLite a worker started without one would start
   * one itself); on PostgreSQL every worker is given its replica's or the proxy's URL.
   */
  async startWorker(w: ChaosWorker): Promise<void> {
    const reachable = () => (w.via === 'proxy' ? this.serviceUp : w.via.up);
    while (!reachable()) await sleep(100);
    w.state = 'starting';
    const extra: Record<string, string> = { CHAOS_WORKER: w.name };
    if (w.via === 'proxy') extra.QUEUECTL_URL = this.proxyEndpoint.url;
    else if (this.postgres) extra.QUEUECTL_URL = w.via.endpoint.url;
    let registered!: () => void;
    const ready = new Promise<void>((resolve) => (registered = resolve));
    const proc = this.spawn(
      'perl',
      [...OWN_GROUP, process.execPath, this.options.cli, 'worker', 'start', '--count', String(this.options.slots)],
      this.env(this.options.home, extra),
      `worker-${w.name}.out`,
      false,
      (line) => {
        const id = /worker (w-[0-9a-f]+) started \(pid \d+/.exec(line)?.[1];
        if (id === undefined) return;
        w.ids.add(id);
        registered();
      },
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

  /** Ctrl+C: SIGTERM to the worker's group; it lets its running jobs finish and exits. */
  async drainWorker(w: ChaosWorker): Promise<void> {
    if (w.proc) await stopGroup(w.proc);
    w.state = 'down';
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
    await Promise.all(this.workers.map((w) => this.drainWorker(w)));
  }

  /** Then the services stop, and the proxy. */
  async stop(): Promise<void> {
    await Promise.all(
      this.replicas.map(async (r) => {
        if (r.proc) await stopGroup(r.proc);
        r.up = false;
      }),
    );
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

/** A port free on loopback now (the kernel's pick), for a service to listen on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
