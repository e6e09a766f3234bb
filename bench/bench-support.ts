import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const SERVICE_MAIN = join(ROOT, 'dist', 'src', 'main.js');

export interface Service {
  url: string;
  token: string;
  home: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** The value after `--name` on the command line, else `fallback`. */
export function benchOption(name: string, fallback: string, argv = process.argv.slice(2)): string {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < argv.length ? argv[at + 1] : fallback;
}

/**
 * Polls `predicate` every `intervalMs` until it holds, for at most `timeoutMs`: a process that
 * died must not hang a benchmark. `what` names the wait in the error.
 */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20, what = 'the benchmark'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Where a benchmarked service keeps its queue: its home's SQLite file (undefined), or a
 * PostgreSQL database (with its schema in the URL) that several replicas may share.
 */
export interface BenchDatabase {
  url: string;
  token: string;
}

export function benchEnv(home: string, database?: BenchDatabase, replica?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUEUECTL_')) env[k] = v;
  if (database === undefined) return { ...env, QUEUECTL_HOME: home, QUEUECTL_PORT: '0' };
  // application_name tells this replica's PostgreSQL backends apart, for their CPU accounting.
  const url = `${database.url}&application_name=${replica ?? 'queuectl-bench'}`;
  return { ...env, QUEUECTL_HOME: home, QUEUECTL_PORT: '0', QUEUECTL_DATABASE_URL: url, QUEUECTL_TOKEN: database.token };
}

/**
 * A fresh service on a temp home and a free port; stop() removes the home. On PostgreSQL
 * `replica` names its connections (application_name) so their backends can be found. `node`
 * adds Node options (a preload) and environment for the service alone.
 */
export async function startService(
  database?: BenchDatabase,
  replica?: string,
  node: { args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<Service> {
  const home = mkdtempSync(join(tmpdir(), 'queuectl-bench-'));
  const child = spawn(process.execPath, [...(node.args ?? []), SERVICE_MAIN, '--quiet'], {
    env: { ...benchEnv(home, database, replica), ...node.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const record = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
      if (record.pid === child.pid) {
        const token = database?.token ?? readFileSync(join(home, 'token'), 'utf8').trim();
        return {
          url: record.url,
          token,
          home,
          process: child,
          stop: async () => {
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
            rmSync(home, { recursive: true, force: true });
          },
        };
      }
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
      throw new Error('service did not start');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function call<T = any>(svc: Service, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(svc.url + path, {
    method,
    headers: { authorization: `Bearer ${svc.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** `count` copies of `job` through POST /api/jobs/batch, `size` a request. */
export async function enqueueBatches(svc: Service, count: number, job: Record<string, unknown> = { command: 'true' }, size = 1000): Promise<void> {
  for (let i = 0; i < count; i += size) {
    await call(svc, 'POST', '/api/jobs/batch', { jobs: Array.from({ length: Math.min(size, count - i) }, () => job) });
  }
}

/** `worker start --count <count>` on `svc`; stop() sends SIGTERM (SIGKILL 10 s later) and waits for its exit. */
export function startWorkers(svc: Service, count: number, database?: BenchDatabase): { stop: () => Promise<void> } {
  // On PostgreSQL a worker is pointed at its replica by URL, as a deployed worker is.
  const env = database ? { ...benchEnv(svc.home), QUEUECTL_URL: svc.url, QUEUECTL_TOKEN: database.token } : benchEnv(svc.home);
  const child = spawn(process.execPath, [CLI, 'worker', 'start', '--count', String(count)], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return {
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface SpawnResult {
  rate: number;
  /** CPU a spawn costs: the spawning Node process plus the shell, microseconds. */
  cpuUs: number;
}

/**
 * The raw spawn rate (spawn-rate.js), measured in a fresh Node process like a worker: the cost of
 * fork grows with the parent's memory, and the calling benchmark may hold large request bodies.
 * `holdMb`: that much more memory held by the spawning process first.
 */
export function rawSpawnRate(total: number, concurrency: number, capture = false, holdMb = 0): SpawnResult {
  const args = [join(__dirname, 'spawn-rate.js'), String(total), String(concurrency), ...(capture ? ['capture'] : []), ...(holdMb > 0 ? [`hold=${holdMb}`] : [])];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as SpawnResult;
}
