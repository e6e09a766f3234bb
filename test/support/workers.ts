import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, RunningService, api, cleanEnv, clientEnv, removeHome, runCli, startService, tempHome, waitFor } from './harness';

/** Worker processes for tests: `queuectl worker start` in a process group of its own, so tests can signal the group. */

export interface WorkerProcess {
  pid: number;
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** Signals the worker's whole process group, as a terminal's Ctrl+C or a `kill -9 -PGID` does. */
  signalGroup(signal: NodeJS.Signals): void;
}

const started = new Set<WorkerProcess>();

export function startWorker(home: string, args: string[] = [], extraEnv: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, [CLI, 'worker', 'start', ...args], {
    env: cleanEnv({ QUEUECTL_HOME: home, ...clientEnv(), ...extraEnv }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const worker: WorkerProcess = {
    pid: child.pid!,
    process: child,
    exited,
    output: () => out,
    signalGroup: (signal) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        /* gone */
      }
    },
  };
  started.add(worker);
  void exited.then(() => started.delete(worker));
  return worker;
}

/** Kills every worker a test started and not yet reaped (afterAll). */
export async function killAllWorkers(): Promise<void> {
  const left = [...started];
  for (const w of left) w.signalGroup('SIGKILL');
  await Promise.all(left.map((w) => w.exited));
}

/** Waits until `n` workers are registered and live. */
export async function waitForWorkers(svc: RunningService, n: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await api(svc, 'GET', '/api/workers')).body.workers.length >= n, timeoutMs, `${n} live worker(s)`);
}

export async function job(svc: RunningService, id: string): Promise<any> {
  const res = await api(svc, 'GET', `/api/jobs/${id}`);
  if (res.status !== 200) throw new Error(`GET job ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function enqueue(svc: RunningService, body: Record<string, unknown>): Promise<any> {
  const res = await api(svc, 'POST', '/api/jobs', body);
  if (res.status !== 201) throw new Error(`enqueue: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function setConfig(svc: RunningService, key: string, value: number): Promise<void> {
  const res = await api(svc, 'PUT', `/api/config/${key}`, { value });
  if (res.status !== 200) throw new Error(`config ${key}: ${res.status} ${JSON.stringify(res.body)}`);
}

export async function waitForState(svc: RunningService, id: string, state: string, timeoutMs = 20_000): Promise<any> {
  return waitFor(async () => {
    const j = await job(svc, id);
    return j.state === state ? j : undefined;
  }, timeoutMs, `job ${id} to be ${state}`);
}

/** A pid written by a command into a file, once it is there. */
export async function pidFrom(file: string, timeoutMs = 15_000): Promise<number> {
  // NaN and 0 are falsy: waitFor keeps waiting until the file holds a pid.
  return waitFor(() => Number(readFileSync(file, 'utf8').trim()), timeoutMs, `a pid in ${file}`);
}

/** `queuectl serve` itself (with its options, such as --workers), as a RunningService. */
export function startServeCommand(home: string, args: string[] = []): Promise<RunningService> {
  return startService(home, {}, ['serve', ...args], CLI);
}

/**
 * A fresh queue for each test: a temp home, a service, and a marker file commands append to.
 * Workers the test started are killed and the service stopped afterwards.
 */
export function useQueue(prefix: string): { readonly home: string; readonly marker: string; svc: RunningService } {
  const queue = {} as { home: string; marker: string; svc: RunningService };
  beforeEach(async () => {
    queue.home = tempHome(prefix);
    queue.marker = join(queue.home, 'marker');
    queue.svc = await startService(queue.home);
  });
  afterEach(async () => {
    await killAllWorkers();
    await queue.svc.stop();
    removeHome(queue.home);
  });
  return queue;
}

export { runCli };

/** Whether a process still runs: a zombie (killed, not yet reaped by whoever adopted it) does not. */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
