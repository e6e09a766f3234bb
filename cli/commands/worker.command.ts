import { Command, InvalidArgumentError } from 'commander';
import type { WorkerView } from '../../src/workers/workers.service';
import { CliContext } from '../context';
import { CommandFailed } from '../exit-codes';
import { ServiceUnreachable } from '../http';
import { integerParser, parseDuration, parseQueueList } from '../input';
import { duration, note, plural, relativeTime, render, shorten, table } from '../render';
import { addUsageHint, workerStartHint } from '../usage-hints';
import { startWorkers } from '../worker/worker-main';

/** `worker start|stop|list`: run workers in the foreground, stop them from anywhere, see them. */

export type { WorkerView };

interface StopAnswer {
  stopping: number;
  ids: string[];
}

const STOP_POLL_MS = 200;

export function listWorkers(ctx: CliContext): Promise<WorkerView[]> {
  return ctx.call<{ workers: WorkerView[] }>('GET', '/api/workers').then((a) => a.workers);
}

export function workersView(workers: WorkerView[], now = Date.now()): string {
  if (workers.length === 0) return 'no workers running';
  return table(
    ['id', 'host', 'pid', 'slots', 'queues', 'started', 'heartbeat', 'state', 'jobs'],
    workers.map((w) => [
      w.id,
      w.hostname,
      w.pid,
      `${w.jobs.length}/${w.concurrency}`,
      w.queues ? shorten(w.queues.join(','), 30) : 'all',
      relativeTime(w.started_at, now),
      `${duration(w.heartbeat_age_ms)} ago`,
      w.stopping ? 'stopping' : w.jobs.length > 0 ? 'busy' : 'idle',
      w.jobs.length === 0 ? '-' : shorten(w.jobs.map((j) => j.id).join(', '), 40),
    ]),
  );
}

/**
 * Asks the workers (one, or all of this queue) to stop after their running jobs, then waits
 * until they have left. With no service or no worker running there is nothing to do: exit 0.
 */
export async function stopWorkers(ctx: CliContext, options: { id?: string; wait: boolean; timeoutSeconds?: number }): Promise<StopAnswer> {
  let answer: StopAnswer;
  try {
    await ctx.endpoint({ autoStart: false });
    answer = await ctx.call<StopAnswer>('POST', '/api/workers/stop', { body: options.id ? { id: options.id } : {} });
  } catch (e) {
    if (e instanceof ServiceUnreachable && !ctx.target().remoteUrl) return { stopping: 0, ids: [] };
    throw e;
  }
  if (!options.wait || answer.ids.length === 0) return answer;
  note(`waiting for ${plural(answer.ids.length, 'worker')} to finish running jobs…`);
  const deadline = options.timeoutSeconds === undefined ? Infinity : Date.now() + options.timeoutSeconds * 1000;
  for (;;) {
    const live = new Set((await listWorkers(ctx)).map((w) => w.id));
    const left = answer.ids.filter((id) => live.has(id));
    if (left.length === 0) return answer;
    if (Date.now() > deadline) throw new CommandFailed(`${plural(left.length, 'worker')} still stopping after ${options.timeoutSeconds} s: ${left.join(', ')}`);
    await new Promise((r) => setTimeout(r, STOP_POLL_MS));
  }
}

/** Node's timers hold at most 2^31-1 ms (24.8 days); the idle timer is one of them. */
const MAX_IDLE_SECONDS = 24 * 86_400;

function parseIdleTimeout(text: string): number {
  const seconds = parseDuration(text);
  if (seconds > MAX_IDLE_SECONDS) throw new InvalidArgumentError('it can be at most 24d (the longest a Node timer waits).');
  return seconds;
}

export function registerWorkerCommands(program: Command, ctx: CliContext): void {
  const worker = program.command('worker').description('run workers, stop them, list them');

  const start = worker
    .command('start')
    .description('run a worker in the foreground until stopped: Ctrl+C or SIGTERM lets running jobs finish, a second one kills them')
    .option('--count <n>', 'jobs run at once, by one worker process per CPU (at most N), each taking a share', integerParser(1, 256), 1)
    .option('--idle-timeout <duration>', 'exit when there was nothing to run for this long (30s, 5m…, at most 24d)', parseIdleTimeout)
    .option('--verbose', 'log every job, not only failures')
    .option('--queues <names>', 'serve only these queues, comma-separated: --queues emails,reports (default: all)', parseQueueList)
    .action(async (options: { count: number; idleTimeout?: number; verbose?: boolean; queues?: string[] }) => {
      const target = ctx.target();
      process.exitCode = await startWorkers({
        // Not awaited here: the worker processes start while the service is found.
        endpoint: ctx.endpoint(),
        home: target.remoteUrl ? undefined : target.home,
        concurrency: options.count,
        idleTimeoutMs: options.idleTimeout === undefined ? null : options.idleTimeout * 1000,
        verbose: Boolean(options.verbose),
        queues: options.queues,
      });
    });
  addUsageHint(start, workerStartHint);

  worker
    .command('stop')
    .description('stop the workers of this queue (all, or --id) after their running jobs; none running is not an error')
    .option('--id <id>', 'stop only this worker')
    .option('--no-wait', 'return at once instead of waiting until they have stopped')
    .option('--timeout <duration>', 'give up waiting after this long (exit 1)', parseDuration)
    .option('--json', 'print {stopping, ids} as JSON')
    .action(async (options: { id?: string; wait: boolean; timeout?: number; json?: boolean }) => {
      const answer = await stopWorkers(ctx, { id: options.id, wait: options.wait, timeoutSeconds: options.timeout });
      render(answer, options, (a) =>
        a.stopping === 0 ? 'no workers running' : `${options.wait ? 'stopped' : 'stopping'} ${plural(a.stopping, 'worker')}: ${a.ids.join(', ')}`,
      );
    });

  worker
    .command('list')
    .description('live workers with their heartbeat and current jobs')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => render(await listWorkers(ctx), options, (w) => workersView(w)));
}
