import { Command, InvalidArgumentError } from 'commander';
import type { QueueView } from '../../src/queues/queues.service';
import { CliContext } from '../context';
import { UsageError } from '../exit-codes';
import { integerParser, parseQueueName } from '../input';
import { fields, render, shorten, table } from '../render';

/** `queue list|show|pause|resume|set`, and `status --queue`: named queues, their counts and settings. */

export type { QueueView };

function queuePath(name: string, suffix = ''): string {
  return `/api/queues/${encodeURIComponent(name)}${suffix}`;
}

export async function listQueues(ctx: CliContext): Promise<QueueView[]> {
  return (await ctx.call<{ queues: QueueView[] }>('GET', '/api/queues')).queues;
}

export function showQueue(ctx: CliContext, name: string): Promise<QueueView> {
  return ctx.call<QueueView>('GET', queuePath(name));
}

/** The API's field names of the settings `queue set` changes; null clears an override. */
export interface QueueSettings {
  concurrency?: number;
  max_retries?: number | null;
  backoff_base?: number | null;
  backoff_max?: number | null;
  job_timeout?: number | null;
}

export function setQueue(ctx: CliContext, name: string, settings: QueueSettings): Promise<QueueView> {
  if (Object.keys(settings).length === 0) throw new UsageError('say what to set: --concurrency, --max-retries, --backoff-base, --backoff-max or --job-timeout');
  return ctx.call<QueueView>('PATCH', queuePath(name), { body: settings });
}

const limitOf = (q: QueueView) => (q.concurrency === 0 ? 'none' : String(q.concurrency));

export function queuesTable(queues: QueueView[]): string {
  return table(
    ['queue', 'pending', 'processing', 'completed', 'failed', 'dead', 'limit', 'paused', 'workers'],
    queues.map((q) => [shorten(q.name, 40), q.counts.pending, q.counts.processing, q.counts.completed, q.counts.failed, q.counts.dead, limitOf(q), q.paused ? 'yes' : 'no', q.workers]),
  );
}

/** One queue as `status --queue` and `queue show` print it: the counts as `status` has them, then its settings. */
export function queueView(q: QueueView): string {
  const override = (v: number | null, unit = '') => (v === null ? 'config' : `${v}${unit}`);
  return fields([
    ['queue', q.name],
    ['pending', q.counts.pending],
    ['processing', q.counts.processing],
    ['completed', q.counts.completed],
    ['failed', q.counts.failed],
    ['dead', q.counts.dead],
    ['total', q.total],
    ['workers', `${q.workers} serving it`],
    ['paused', q.paused ? 'yes' : 'no'],
    ['limit', q.concurrency === 0 ? 'none' : `${q.concurrency} at once`],
    ['max-retries', override(q.max_retries)],
    ['backoff-base', override(q.backoff_base)],
    ['backoff-max', override(q.backoff_max, 's')],
    ['job-timeout', override(q.job_timeout, 's')],
  ]);
}

/** A number, or `default` to clear the queue's own value (the global setting applies again; sent as null). */
function overrideParser(integer: boolean): (text: string) => number | 'default' {
  return (text: string) => {
    // Not null here: commander stores a parser's null as an empty string.
    if (text.trim().toLowerCase() === 'default') return 'default';
    if (!(integer ? /^\s*-?\d+\s*$/ : /^\s*-?\d+(\.\d+)?\s*$/).test(text)) throw new InvalidArgumentError(`expected ${integer ? 'a whole number' : 'a number'}, or "default" for the global setting.`);
    return Number(text);
  };
}

type Override = number | 'default';

export function registerQueueCommands(program: Command, ctx: CliContext): void {
  const queue = program
    .command('queue')
    .description('named queues: counts, pause and resume, a concurrency limit, per-queue retry and timeout settings')
    .addHelpText(
      'after',
      '\nA job goes to the queue `default` unless it names one (run --queue Q, "queue" in JSON).\n' +
        'A queue exists while it has jobs or settings; pause and set create its settings when it has none.\n' +
        'Settings of a job win over those of its queue, and those of the queue over the global config.',
    );

  queue
    .command('list')
    .description('every queue: jobs per state, limit, paused, live workers serving it')
    .option('--json', 'print one JSON array of queues')
    .action(async (options: { json?: boolean }) => render(await listQueues(ctx), options, queuesTable));

  queue
    .command('show')
    .description('one queue: its counts and settings (the same as status --queue)')
    .argument('<name>', 'queue name', parseQueueName)
    .option('--json', 'print as JSON')
    .action(async (name: string, options: { json?: boolean }) => render(await showQueue(ctx, name), options, queueView));

  queue
    .command('pause')
    .description('stop claiming jobs of a queue; running ones finish')
    .argument('<name>', 'queue name', parseQueueName)
    .option('--json', 'print the queue as JSON')
    .action(async (name: string, options: { json?: boolean }) =>
      render(await ctx.call<QueueView>('POST', queuePath(name, '/pause')), options, (q) => `paused queue ${q.name} (${q.counts.processing} running will finish)`),
    );

  queue
    .command('resume')
    .description('claim jobs of a paused queue again; waiting workers take them at once')
    .argument('<name>', 'queue name', parseQueueName)
    .option('--json', 'print the queue as JSON')
    .action(async (name: string, options: { json?: boolean }) =>
      render(await ctx.call<QueueView>('POST', queuePath(name, '/resume')), options, (q) => `resumed queue ${q.name}`),
    );

  queue
    .command('set')
    .description("change a queue's limit or its own retry and timeout settings; a bad value changes nothing")
    .argument('<name>', 'queue name', parseQueueName)
    .option('--concurrency <n>', 'at most N of its jobs processing at once, across all workers and replicas; 0 = no limit', integerParser(0, 100_000))
    .option('--max-retries <n|default>', 'retries for its new jobs that give none', overrideParser(true))
    .option('--backoff-base <x|default>', 'retry n of its jobs waits x^n seconds (unless the job gives backoff_base)', overrideParser(false))
    .option('--backoff-max <seconds|default>', 'cap on its retry delay', overrideParser(true))
    .option('--job-timeout <seconds|default>', 'kill its commands after this long, 0 = none (unless the job gives timeout_seconds)', overrideParser(true))
    .option('--json', 'print the queue as JSON')
    .addHelpText('after', '\n"default" clears a queue\'s own value: the global config applies again.\nExample: queuectl queue set emails --concurrency 2 --max-retries 5')
    .action(async (name: string, options: { concurrency?: number; maxRetries?: Override; backoffBase?: Override; backoffMax?: Override; jobTimeout?: Override; json?: boolean }) => {
      const settings: QueueSettings = {};
      const value = (v: Override) => (v === 'default' ? null : v);
      if (options.concurrency !== undefined) settings.concurrency = options.concurrency;
      if (options.maxRetries !== undefined) settings.max_retries = value(options.maxRetries);
      if (options.backoffBase !== undefined) settings.backoff_base = value(options.backoffBase);
      if (options.backoffMax !== undefined) settings.backoff_max = value(options.backoffMax);
      if (options.jobTimeout !== undefined) settings.job_timeout = value(options.jobTimeout);
      render(await setQueue(ctx, name, settings), options, queueView);
    });
}
