import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { processAlive, readServiceRecord } from '../src/common/service-record';
import { readTokenFile, TokenFileRefused } from '../src/common/token';
import { Endpoint, ServiceUnreachable, request } from './http';
import { ensureDirectory } from '../src/common/directories';

/**
 * Where the CLI and workers find the service. The CLI's one reader of process.env: the rest of
 * cli/ receives these values as arguments.
 */
export interface Target {
  /** Set when QUEUECTL_URL or --url names a service; the local home is then not used. */
  remoteUrl?: string;
  token?: string;
  home: string;
  /** QUEUECTL_DATABASE_URL names PostgreSQL: services are deployed replicas, never started here. */
  postgres?: boolean;
}

export function targetFromEnv(overrides: { url?: string; token?: string } = {}, env = process.env): Target {
  const remoteUrl = overrides.url ?? nonEmpty(env.QUEUECTL_URL);
  return {
    remoteUrl: remoteUrl?.replace(/\/+$/, ''),
    token: overrides.token ?? nonEmpty(env.QUEUECTL_TOKEN) ?? tokenFromFile(nonEmpty(env.QUEUECTL_TOKEN_FILE)),
    home: resolve(nonEmpty(env.QUEUECTL_HOME) ?? join(homedir(), '.queuectl')),
    postgres: /^postgres(ql)?:/.test(nonEmpty(env.QUEUECTL_DATABASE_URL) ?? ''),
  };
}

/** QUEUECTL_TOKEN_FILE (a Compose secret), held to the same rules as the home's token file. */
function tokenFromFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  const token = readTokenFile(file);
  if (token === undefined) throw new TokenFileRefused(`QUEUECTL_TOKEN_FILE names no file (got "${file}")`);
  return token;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The local service's endpoint from its record, if it is running. */
export function localEndpoint(target: Target): Endpoint | undefined {
  const record = readServiceRecord(target.home);
  if (!record || !processAlive(record.pid)) return undefined;
  return { url: record.url, token: target.token ?? readToken(target.home) };
}

/** The local token; a token file others may read, or a short one, is refused (TokenFileRefused). */
function readToken(home: string): string {
  return readTokenFile(join(home, 'token')) ?? '';
}

/** Whether the service at `endpoint` answers its health check. */
export async function answers(endpoint: Endpoint): Promise<boolean> {
  try {
    await request(endpoint, 'GET', '/api/health', { timeoutMs: 2000 });
    return true;
  } catch {
    return false;
  }
}

export interface ResolveOptions {
  /** Start the local service when none answers (the CLI does; workers only wait). */
  autoStart: boolean;
  /** Told when a service is started, so the CLI can say so on stderr. */
  onStart?: (logFile: string) => void;
  /** How long to wait for a started service to answer. */
  startTimeoutMs?: number;
}

/** Times a started service may give up because another one held the lock, before the CLI does. */
const STALE_OWNER_RETRIES = 20;

/**
 * The endpoint to talk to: the remote one when named, else the local service of the home,
 * started detached (its own session, so a signal to a terminal's process group never reaches
 * it) when none answers.
 *
 * The CLI watches the service it started: should it exit, the CLI says so at once with the
 * service's own error line, instead of waiting out the start timeout. A service that exited
 * because another held the lock is started again when that other one does not answer (it was
 * dying: a SIGKILLed service holds the lock until the kernel has torn it down).
 */
export async function resolveEndpoint(target: Target, options: ResolveOptions): Promise<Endpoint> {
  if (target.remoteUrl) {
    if (!target.token) throw new ServiceUnreachable('QUEUECTL_URL is set but QUEUECTL_TOKEN is not');
    return { url: target.remoteUrl, token: target.token };
  }
  const existing = localEndpoint(target);
  if (existing && (await answers(existing))) return existing;
  if (target.postgres) {
    throw new ServiceUnreachable('QUEUECTL_DATABASE_URL names PostgreSQL, whose services are not started by the CLI: set QUEUECTL_URL and QUEUECTL_TOKEN');
  }
  if (!options.autoStart) throw new ServiceUnreachable(`no queuectl service is running for ${target.home}`);
  // A service started over a bad token file would only refuse it in its log: say so here.
  if (!target.token) readToken(target.home);

  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let started = startLocalService(target.home);
  options.onStart?.(started.logFile);
  for (let restarts = 0; Date.now() < deadline; ) {
    const found = localEndpoint(target);
    if (found && (await answers(found))) return found;
    if (started.exited()) {
      // Another service may have won the start (a parallel CLI's): it is the one to use.
      const other = localEndpoint(target);
      if (other && (await answers(other))) return other;
      const line = started.errorLine() ?? `the local service exited at start; see ${started.logFile}`;
      if (!/already runs/.test(line) || ++restarts > STALE_OWNER_RETRIES) throw new ServiceUnreachable(line.replace(/^queuectl: /, ''));
      await new Promise((r) => setTimeout(r, 100));
      started = startLocalService(target.home);
      continue;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ServiceUnreachable(`the local service did not start within ${Math.round(timeoutMs / 1000)} s; see ${started.logFile}`);
}

export interface StartedService {
  logFile: string;
  /** Whether the service has exited (it runs detached; the CLI only watches it). */
  exited(): boolean;
  /** The last line the service wrote to its log, once it has exited. */
  errorLine(): string | undefined;
}

/** Starts `dist/src/main.js` detached, with its output appended to `<home>/service.log`. */
export function startLocalService(home: string): StartedService {
  ensureDirectory(home);
  const logFile = join(home, 'service.log');
  const out = openSync(logFile, 'a', 0o600);
  const from = fstatSync(out).size;
  const main = join(__dirname, '..', 'src', 'main.js');
  const child = spawn(process.execPath, [main], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, QUEUECTL_HOME: home },
  });
  closeSync(out);
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  child.unref();
  return {
    logFile,
    exited: () => exited,
    errorLine: () => {
      // Another service may append to the same log meanwhile; its own lines start at `from`.
      const text = readFileSync(logFile).subarray(from).toString('utf8');
      return text.split('\n').filter((l) => l.startsWith('queuectl:')).pop();
    },
  };
}

/**
 * The environment a job's command runs in: the worker's own (so a job can call `queuectl` on
 * the same queue) plus the job's identity.
 */
export function commandEnvironment(job: Record<string, string>, env = process.env): NodeJS.ProcessEnv {
  return { ...env, ...job };
}
