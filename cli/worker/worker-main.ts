import { ChildProcess, fork } from 'node:child_process';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { Endpoint } from '../http';
import { commandEnvironment, localEndpoint } from '../locate';
import { CommandRunner } from './command-runner';
import { HttpWorkerApi } from './http-worker-api';
import { OrphanGuard } from './orphan-guard';
import { WorkerApi } from './worker-api';
import { ConnectMessage, StopMessage, WorkerMessage } from './worker-ipc';
import { WorkerLoop } from './worker-loop';
import { ClaimsAfter } from './claims-after';

export interface WorkerProgramOptions {
  endpoint: Endpoint;
  /** The local home, when the service is local: it may come back on another port, see service.json. */
  home?: string;
  concurrency: number;
  idleTimeoutMs: number | null;
  verbose: boolean;
  /** Serve only these queues; undefined for all. */
  queues?: string[];
}

/** What `worker start` is given: the service may still be looked for (or started) meanwhile. */
export interface WorkerStartOptions extends Omit<WorkerProgramOptions, 'endpoint'> {
  endpoint: Promise<Endpoint>;
}

/** How a running worker is told to stop: `stop` drains, `kill` stops at once. */
type Controls = (loop: { stop(why: string): void; kill(why: string): void }) => () => void;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} queuectl worker ${process.pid}: ${line}\n`);
}

/**
 * One worker loop in this process. With `claimsAfter`, it registers at once but claims nothing
 * until that promise resolves. Its orphan guard, a shell, starts at once.
 */
async function runLoop(options: WorkerProgramOptions, controls: Controls, claimsAfter?: Promise<void>): Promise<number> {
  const guard = new OrphanGuard(log);
  const home = options.home;
  const discover = home === undefined ? () => undefined : () => localEndpoint({ home, token: options.endpoint.token });
  const http = new HttpWorkerApi(options.endpoint, discover, log, options.queues);
  const api: WorkerApi = claimsAfter ? new ClaimsAfter(http, claimsAfter) : http;
  guard.start();
  // Every command carries the guard's mark, so the guard can find what they left if this process dies.
  const base = commandEnvironment({ QUEUECTL_RUN_MARK: guard.mark });
  const loop = new WorkerLoop(api, new CommandRunner(guard), {
    concurrency: options.concurrency,
    idleTimeoutMs: options.idleTimeoutMs,
    hostname: hostname(),
    pid: process.pid,
    verbose: options.verbose,
    log,
    // Copied once: reading process.env is a call into the runtime per variable.
    // QUEUECTL_JOB_RUN is the run's fencing value, unique in the queue for its whole life.
    // The job's own variables (`--env`) go over the worker's; the worker's QUEUECTL_* ones over both.
    environment: (job) => ({
      ...base,
      ...job.env,
      QUEUECTL_RUN_MARK: guard.mark,
      QUEUECTL_JOB_ID: job.id,
      QUEUECTL_JOB_ATTEMPT: String(job.attempt),
      QUEUECTL_JOB_RUN: String(job.lease),
    }),
    watchdog: (deadline, graceMs) => guard.deadline(deadline, graceMs),
  });
  const release = controls(loop);
  const releaseStop = stopsWithTerminal(loop);
  try {
    return await loop.run();
  } finally {
    releaseStop();
    release();
    guard.close();
  }
}

/**
 * Ctrl+Z sends SIGTSTP to the worker's process group, which its commands (each in a session of
 * its own) are not in: they are stopped here first, then the worker stops itself as the default
 * action would have. At fg (SIGCONT), a command whose lease may have ended meanwhile is killed
 * rather than continued; the others go on.
 */
function stopsWithTerminal(loop: { suspend(): void; resume(): void }): () => void {
  const onStop = () => {
    loop.suspend();
    process.kill(process.pid, 'SIGSTOP');
  };
  const onContinue = () => loop.resume();
  process.on('SIGTSTP', onStop);
  process.on('SIGCONT', onContinue);
  return () => {
    process.off('SIGTSTP', onStop);
    process.off('SIGCONT', onContinue);
  };
}

/** First SIGINT/SIGTERM drains, a second one stops at once. */
function bySignals(onStop: (why: string) => void, onKill: (why: string) => void): () => void {
  let signals = 0;
  const handler = (signal: NodeJS.Signals) => (++signals === 1 ? onStop(`got ${signal}`) : onKill(`got ${signal} again`));
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** How many jobs each of `processes` runs at once, `count` in all. */
export function share(count: number, processes: number): number[] {
  return Array.from({ length: processes }, (_, i) => Math.floor(count / processes) + (i < count % processes ? 1 : 0));
}

/**
 * `queuectl worker start --count N`: N jobs at once, over as many processes as there are CPUs
 * (at most N). Node starts a child process from its one main thread and blocks it until the
 * child has exec'd, so one process tops out at one spawn at a time; a process per CPU spawns in
 * parallel. This process runs one share itself and forks the others. They share the terminal's
 * process group (a SIGKILL or a Ctrl+C of the group reaches them all at once) and also take
 * stop and kill by message, for a signal sent to this process alone; a stop heard both ways
 * counts once.
 *
 * Start-up is the time a Node process takes to start, once: the others are forked before the
 * service is even found, and this process registers while they start; only its claims wait for
 * them.
 */
export async function startWorkers(options: WorkerStartOptions): Promise<number> {
  const cpus = availableParallelism();
  const shares = share(options.concurrency, Math.max(1, Math.min(options.concurrency, cpus)));
  let stopping = false;
  const children: ChildProcess[] = shares.slice(1).map(() => fork(join(__dirname, 'worker-child.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const exits = children.map((c) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.once('exit', (code, signal) => resolve({ code, signal }))));
  // The others claim nothing before every child ignores the terminal's signals (its first act, see worker-child.ts).
  const childrenReady = Promise.all(children.map((c) => new Promise<void>((resolve) => {
    const done = () => resolve();
    c.once('message', done);
    c.once('exit', done);
    setTimeout(done, 10_000).unref();
  }))).then(() => undefined);
  let endpoint: Endpoint;
  try {
    endpoint = await options.endpoint;
  } catch (e) {
    // Nothing was given to them yet: no guard, no registration, no job.
    for (const c of children) c.kill('SIGKILL');
    throw e;
  }
  log(startLine(options.concurrency, shares, cpus));
  // A child may be gone meanwhile (a Ctrl+C reached it before it could ignore it): its exit is
  // counted above, and a message to it is dropped rather than failing `worker start`.
  const send = (c: ChildProcess, message: WorkerMessage) => {
    if (c.connected) c.send(message, () => undefined);
  };
  children.forEach((child, i) => {
    const message: ConnectMessage = {
      type: 'connect',
      url: endpoint.url,
      token: endpoint.token,
      home: options.home,
      concurrency: shares[i + 1],
      idle_timeout_ms: options.idleTimeoutMs,
      verbose: options.verbose,
      queues: options.queues,
      stopped_by: 'parent',
    };
    send(child, message);
  });
  const tell = (message: StopMessage) => {
    for (const c of children) send(c, message);
  };
  const controls: Controls = (loop) =>
    bySignals(
      (why) => {
        stopping = true;
        loop.stop(why);
        tell({ type: 'stop', why });
      },
      (why) => {
        loop.kill(why);
        tell({ type: 'kill', why });
      },
    );
  const own = runLoop({ ...options, endpoint, concurrency: shares[0] }, controls, childrenReady);
  const [ownCode, ...childExits] = await Promise.all([own.catch((e) => {
    // This loop could not run (say, a wrong token): the others cannot either.
    tell({ type: 'kill', why: 'the first worker could not start' });
    throw e;
  }), ...exits]);
  // A child killed by the terminal's signal before it could ignore it had nothing to finish.
  // Judged only now: its exit may be heard before this process's own handler of that signal ran.
  return Math.max(ownCode, ...childExits.map(({ code, signal }) => code ?? (stopping && signal ? 0 : 1)));
}

/** What `worker start --count N` runs, and why in several processes. */
export function startLine(count: number, shares: number[], cpus: number): string {
  const processes = shares.length;
  const each = Math.min(...shares) === Math.max(...shares) ? `${shares[0]}` : `${Math.min(...shares)}–${Math.max(...shares)}`;
  const why = processes === 1 ? '' : ` (one per CPU, ${cpus} CPUs, at most one per job: a process starts one command at a time, so several start commands in parallel)`;
  return `running up to ${count} job(s) at once in ${processes} worker process(es) of ${each} job(s) each${why}`;
}

/**
 * A worker process forked by `worker start` (through worker-child.ts) or by the service: its
 * endpoint comes over IPC.
 */
export function runForked(): void {
  const timer = setTimeout(() => {
    log('no configuration from the process that started it; exiting');
    process.exit(1);
  }, 30_000);
  // It died before configuring this one (`worker start` forks before it has found the service):
  // nothing was started here, nothing to finish.
  const unconfigured = () => process.exit(1);
  process.once('disconnect', unconfigured);
  process.once('message', (message: ConnectMessage) => {
    clearTimeout(timer);
    process.off('disconnect', unconfigured);
    const options: WorkerProgramOptions = {
      endpoint: { url: message.url, token: message.token },
      home: message.home,
      concurrency: message.concurrency,
      idleTimeoutMs: message.idle_timeout_ms,
      verbose: message.verbose,
      queues: message.queues,
    };
    const controls: Controls = (loop) => {
      // The process that started it is gone: finish, report (to a successor of the service, if
      // one comes within a lease), and leave rather than run on unsupervised.
      const orphaned = () => loop.stop('the process that started it is gone');
      process.once('disconnect', orphaned);
      const direct = bySignals((why) => loop.stop(why), (why) => loop.kill(why));
      if (message.stopped_by === 'service') return direct;
      // A Ctrl+C reaches this process itself at the instant it reaches `worker start`, so it
      // claims nothing after it (waiting for the parent's word let a claim answered meanwhile
      // start a job). The parent passes its signals on too, for a signal sent to it alone:
      // stopping twice is stopping once, and a second signal, direct or passed on, kills.
      const onMessage = (m: WorkerMessage) => (m.type === 'stop' ? loop.stop(m.why) : m.type === 'kill' ? loop.kill(m.why) : undefined);
      process.on('message', onMessage);
      return () => {
        direct();
        process.off('message', onMessage);
      };
    };
    runLoop(options, controls).then(
      (code) => process.exit(code),
      (e) => {
        log(`stopped: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  });
}

if (require.main === module) runForked();
