import { Command } from 'commander';
import { processAlive, readServiceRecord } from '../../src/common/service-record';
import { CliContext } from '../context';
import { CommandFailed, EXIT, UsageError } from '../exit-codes';
import { Endpoint, ServiceUnreachable, request } from '../http';
import { integerParser } from '../input';
import { localEndpoint } from '../locate';
import { duration, fields, plural, render } from '../render';
import { getStatus } from './status.command';

/** `serve`, `server status|stop` and `reset`: running and looking after the service itself. */

// How long `server stop` waits for a graceful close; the service's own close is bounded well below.
const STOP_TIMEOUT_MS = 20_000;

export interface ServerStatus {
  running: boolean;
  url?: string;
  pid?: number;
  uptime_seconds?: number;
  /** The data directory, for a local service. */
  home?: string;
}

interface Health {
  status: string;
  pid: number;
  uptime_seconds: number;
}

/**
 * The service that would answer, without starting one. Health needs no token, so a remote
 * service can be asked even when no token is set.
 */
function existingEndpoint(ctx: CliContext): Endpoint | undefined {
  const target = ctx.target();
  if (target.remoteUrl) return { url: target.remoteUrl, token: target.token ?? '' };
  return localEndpoint(target);
}

export async function serverStatus(ctx: CliContext): Promise<ServerStatus> {
  const target = ctx.target();
  const home = target.remoteUrl ? undefined : target.home;
  const endpoint = existingEndpoint(ctx);
  if (!endpoint) return { running: false, home };
  try {
    const health = await request<Health>(endpoint, 'GET', '/api/health', { timeoutMs: 5000 });
    return { running: true, url: endpoint.url, pid: health.pid, uptime_seconds: health.uptime_seconds, home };
  } catch (e) {
    if (e instanceof ServiceUnreachable) return { running: false, url: target.remoteUrl, home };
    throw e;
  }
}

/** Asks the service to stop, then waits until it is gone; nothing running is not an error. */
export async function stopServer(ctx: CliContext): Promise<{ stopped: boolean; pid?: number; url?: string }> {
  const target = ctx.target();
  const record = target.remoteUrl ? undefined : readServiceRecord(target.home);
  const endpoint = existingEndpoint(ctx);
  if (!endpoint) return { stopped: false };
  const answers = () => request(endpoint, 'GET', '/api/health', { timeoutMs: 2000 }).then(() => true, (e) => !(e instanceof ServiceUnreachable));
  if (target.remoteUrl && !(await answers())) return { stopped: false };
  if (target.remoteUrl && !target.token) {
    throw new CommandFailed(`no token for ${target.remoteUrl}: set QUEUECTL_TOKEN or pass --token`, EXIT.unauthorised);
  }
  try {
    await request(endpoint, 'POST', '/api/shutdown', { timeoutMs: 5000 });
  } catch (e) {
    // No answer: the record is stale, and its pid may by now belong to another program, so it
    // is never signalled.
    if (e instanceof ServiceUnreachable) return { stopped: false };
    throw e;
  }
  const gone = record ? async () => !processAlive(record.pid) : async () => !(await answers());
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (!(await gone())) {
    if (Date.now() > deadline) throw new CommandFailed(`the service did not stop within ${STOP_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { stopped: true, pid: record?.pid, url: endpoint.url };
}

export function resetQueue(ctx: CliContext): Promise<{ backup: string; deleted: number }> {
  return ctx.call('POST', '/api/reset');
}

export function registerServerCommands(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the service in the foreground (Ctrl+C stops it)')
    .option('--port <port>', 'port to listen on (default 7411, or QUEUECTL_PORT)', integerParser(0, 65535))
    .option('--workers <n>', 'worker processes the service runs itself', integerParser(0, 1024))
    .action(async (options: { port?: number; workers?: number }) => {
      // Loaded here only: every other command starts without NestJS.
      const { serve } = require('../../src/main') as typeof import('../../src/main');
      await serve({ port: options.port, workers: options.workers });
    });

  const server = program.command('server').description('the background service: is it running, stop it');

  server
    .command('status')
    .description('url, pid and uptime of the service, or "not running" (exit 5); never starts one')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      const status = await serverStatus(ctx);
      render(status, options, (s) =>
        s.running
          ? fields([['url', s.url!], ['pid', s.pid!], ['uptime', duration(s.uptime_seconds! * 1000, true)], ...(s.home ? [['home', s.home] as [string, string]] : [])])
          : `not running${s.url ? ` at ${s.url}` : ''}${s.home ? ` (home ${s.home})` : ''}`,
      );
      if (!status.running) process.exitCode = EXIT.unreachable;
    });

  server
    .command('stop')
    .description('stop the service gracefully and wait until it has exited; a no-op when none runs')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      const result = await stopServer(ctx);
      render(result, options, (r) => (r.stopped ? `stopped the service${r.pid ? ` (pid ${r.pid})` : ` at ${r.url}`}` : 'no service was running'));
    });

  program
    .command('reset')
    .description('back up the database, then delete every job (settings stay); refused (exit 4) while jobs run')
    .option('--yes', 'do not ask for confirmation (needed when not on a terminal)')
    .option('--json', 'print {backup, deleted} as JSON')
    .action(async (options: { yes?: boolean; json?: boolean }) => {
      if (!options.yes) {
        if (!ctx.interactive()) throw new UsageError('reset deletes every job: pass --yes to confirm (there is no terminal to ask on)');
        const { total } = await getStatus(ctx);
        if (!(await ctx.confirm(`Delete all ${plural(total, 'job')}? The database is backed up first.`))) {
          throw new CommandFailed('reset cancelled; nothing was changed');
        }
      }
      const result = await resetQueue(ctx);
      render(result, options, (r) => `deleted ${plural(r.deleted, 'job')}; backup: ${r.backup}`);
    });
}
