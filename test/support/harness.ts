import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_DIALECT, databaseEnv, dropDatabaseOf } from './database';

/** Shared test plumbing: temp homes, waiting on conditions, the built service and CLI. */

export const ROOT = resolve(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const SERVICE_MAIN = join(ROOT, 'dist', 'src', 'main.js');

export function tempHome(prefix = 'queuectl-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeHome(home: string): void {
  dropDatabaseOf(home);
  rmSync(home, { recursive: true, force: true });
}

/** Polls `predicate` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition', intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `queuectl` with a clean environment pointing at `home`. */
export function runCli(args: string[], home: string, extraEnv: Record<string, string | undefined> = {}, input?: string, cwd?: string): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: cleanEnv({ QUEUECTL_HOME: home, ...clientEnv(), ...extraEnv }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/**
 * Runs the built `queuectl` on a pseudo-terminal (util-linux `script`), typing `input`: all it
 * drew, as a person at a terminal sees it (stdout and stderr mixed, prompts included).
 */
export function runOnTerminal(args: string[], env: Record<string, string | undefined>, input = ''): Promise<{ code: number | null; screen: Buffer }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolvePromise) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: cleanEnv({ ...clientEnv(), ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => out.push(c));
    child.on('close', (code) => resolvePromise({ code, screen: Buffer.concat(out) }));
    child.stdin.end(input);
  });
}

/** process.env without any QUEUECTL_ variable of the developer's, plus the given ones. */
export function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUEUECTL_')) env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/** The token of a spawned service in PostgreSQL mode, which generates none. */
export const SERVICE_TEST_TOKEN = 'service-test-token-0123456789';

/**
 * What the CLI and workers of a test need besides the home: on PostgreSQL the token (the service
 * keeps none in the home); they find the service through the home's record as on SQLite.
 */
export function clientEnv(): Record<string, string> {
  return TEST_DIALECT === 'postgres' ? { QUEUECTL_TOKEN: SERVICE_TEST_TOKEN } : {};
}

export interface RunningService {
  home: string;
  url: string;
  token: string;
  pid: number;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. */
  stop(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  output(): string;
}

/**
 * The homes and services a spec makes, each killed (SIGKILL) and removed by `cleanUp`, to be
 * called in its afterAll: for specs that kill and restart services on one home.
 */
export function servicesOfSpec(prefix: string): { newHome(): string; start(home: string): Promise<RunningService>; cleanUp(): Promise<void> } {
  const homes: string[] = [];
  const running: RunningService[] = [];
  return {
    newHome: () => {
      const home = tempHome(prefix);
      homes.push(home);
      return home;
    },
    start: async (home) => {
      const svc = await startService(home);
      running.push(svc);
      return svc;
    },
    cleanUp: async () => {
      for (const svc of running) await svc.kill('SIGKILL').catch(() => undefined);
      for (const home of homes) removeHome(home);
    },
  };
}

/** Starts the built service on a free port for `home` and waits until it answers. */
export async function startService(
  home: string,
  extraEnv: Record<string, string> = {},
  args: string[] = [],
  /** The built program to run: the service's main, or the CLI with `serve` in `args`. */
  program = SERVICE_MAIN,
): Promise<RunningService> {
  // On PostgreSQL (see ./database) the home's schema, and the token that mode requires.
  const env = { ...databaseEnv(home, SERVICE_TEST_TOKEN), ...extraEnv };
  const child = spawn(process.execPath, [program, ...args], {
    env: cleanEnv({ QUEUECTL_HOME: home, QUEUECTL_PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const record = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${out}`);
      const r = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
      return r.pid === child.pid ? r : undefined;
    },
    20_000,
    'the service to start',
  );
  const token = env.QUEUECTL_TOKEN ?? readFileSync(join(home, 'token'), 'utf8').trim();
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    home,
    url: record.url,
    token,
    pid: child.pid!,
    process: child,
    output: () => out,
    kill,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Kills a service the CLI started detached for `home` (its pid is in service.json). */
export function killDetachedService(home: string): void {
  try {
    const { pid } = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
    process.kill(pid, 'SIGKILL');
  } catch {
    /* not running */
  }
}

/** Whether a process exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** fetch-like JSON call with the token, for tests against a spawned service. */
export async function api<T = any>(svc: { url: string; token: string }, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(svc.url + path, {
    method,
    headers: { authorization: `Bearer ${svc.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* text answer */
  }
  return { status: res.status, body: parsed as T };
}

/** Lines of a marker file that commands append their job ids to. */
export function markerLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

export function build(): void {
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('build failed');
}
