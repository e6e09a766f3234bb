import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { processAlive, readServiceRecord } from '../src/common/service-record';
import { Endpoint, ServiceUnreachable, request } from './http';

/**
 * Where the CLI and workers find the service. The CLI's one reader of process.env: the rest of
 * cli/ receives these values as arguments.
 */
export interface Target {
  /** Set when QUEUECTL_URL or --url names a service; the local home is then not used. */
  remoteUrl?: string;
  token?: string;
  home: string;
}

export function targetFromEnv(overrides: { url?: string; token?: string } = {}, env = process.env): Target {
  const remoteUrl = overrides.url ?? nonEmpty(env.QUEUECTL_URL);
  return {
    remoteUrl: remoteUrl?.replace(/\/+$/, ''),
    token: overrides.token ?? nonEmpty(env.QUEUECTL_TOKEN),
    home: resolve(nonEmpty(env.QUEUECTL_HOME) ?? join(homedir(), '.queuectl')),
  };
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

function readToken(home: string): string {
  try {
    return readFileSync(join(home, 'token'), 'utf8').trim();
  } catch {
    return '';
  }
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

/**
 * The endpoint to talk to: the remote one when named, else the local service of the home,
 * started detached (its own session, so a signal to a terminal's process group never reaches
 * it) when none answers.
 */
export async function resolveEndpoint(target: Target, options: ResolveOptions): Promise<Endpoint> {
  if (target.remoteUrl) {
    if (!target.token) throw new ServiceUnreachable('QUEUECTL_URL is set but QUEUECTL_TOKEN is not');
    return { url: target.remoteUrl, token: target.token };
  }
  const existing = localEndpoint(target);
  if (existing && (await answers(existing))) return existing;
  if (!options.autoStart) throw new ServiceUnreachable(`no queuectl service is running for ${target.home}`);

  const logFile = startLocalService(target.home);
  options.onStart?.(logFile);
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    const started = localEndpoint(target);
    if (started && (await answers(started))) return started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ServiceUnreachable(`the local service did not start within ${Math.round((options.startTimeoutMs ?? 20_000) / 1000)} s; see ${logFile}`);
}

/** Starts `dist/src/main.js` detached, with its output appended to `<home>/service.log`. */
export function startLocalService(home: string): string {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const logFile = join(home, 'service.log');
  const out = openSync(logFile, 'a', 0o600);
  const main = join(__dirname, '..', 'src', 'main.js');
  const child = spawn(process.execPath, [main], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, QUEUECTL_HOME: home },
  });
  child.unref();
  return logFile;
}

/**
 * The environment a job's command runs in: the worker's own (so a job can call `queuectl` on
 * the same queue) plus the job's identity.
 */
export function commandEnvironment(job: Record<string, string>, env = process.env): NodeJS.ProcessEnv {
  return { ...env, ...job };
}
