import { Command, InvalidArgumentError, Option } from 'commander';
import type { ScheduleResponse } from '../../src/schedules/schedules.service';
import { CliContext } from '../context';
import { UsageError } from '../exit-codes';
import { JsonObject, collectEnv, integerParser, parseDuration, parseQueueName, parseWholeSeconds } from '../input';
import type { JobResponse } from '../job-views';
import { fields, localTime, note, relativeTime, render, shorten, table } from '../render';
import { commandLine } from '../shell-words';
import { escapeControls } from '../terminal-text';
import { WhereOptions, withWhere } from './enqueue.command';

/** `schedule add|list|show|pause|resume|remove|run`: recurring jobs. */

export interface ScheduleAddOptions extends WhereOptions {
  cron?: string;
  tz?: string;
  /** Seconds. */
  every?: number;
  queue?: string;
  catchUp?: string;
  retries?: number;
  priority?: number;
  timeout?: number;
  json?: boolean;
}

/** The body of POST /api/schedules; a cron expression is read in the caller's zone unless --tz says otherwise. */
export function scheduleInput(name: string, words: string[], options: ScheduleAddOptions): JsonObject {
  const job: JsonObject = { command: commandLine(words) };
  if (options.retries !== undefined) job.max_retries = options.retries;
  if (options.priority !== undefined) job.priority = options.priority;
  if (options.timeout !== undefined) job.timeout_seconds = options.timeout;
  if (options.queue !== undefined) job.queue = options.queue;
  // Where each tick's job runs: as with `run`, the caller's directory unless --cwd or --no-cwd.
  const body: JsonObject = { name, job: withWhere(job, options) };
  if (options.cron !== undefined) {
    body.cron = options.cron;
    body.timezone = options.tz ?? localZone();
  } else if (options.tz !== undefined) {
    body.timezone = options.tz; // refused by the service with its reason: a zone goes with --cron
  }
  if (options.every !== undefined) body.every_seconds = options.every;
  if (options.catchUp !== undefined) body.catch_up = options.catchUp;
  return body;
}

function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** `--every`: a duration of whole seconds, at least one. */
function parseEvery(text: string): number {
  const seconds = parseDuration(text);
  if (!Number.isInteger(seconds) || seconds < 1) throw new InvalidArgumentError('expected a whole number of seconds, at least 1: 2s, 5m, 1h, 1d.');
  return seconds;
}

/** "2s", "5m", "1h", "90s": an interval as it was most likely typed. */
export function formatEvery(seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

function whenOf(s: ScheduleResponse): string {
  return s.cron !== null ? `cron ${s.cron}${s.timezone ? ` (${s.timezone})` : ''}` : `every ${formatEvery(s.every_seconds ?? 0)}`;
}

export function scheduleTable(schedules: ScheduleResponse[], now = Date.now()): string {
  if (schedules.length === 0) return 'no schedules';
  return table(
    ['name', 'when', 'next run', 'last run', 'state', 'command'],
    schedules.map((s) => [
      s.name,
      whenOf(s),
      s.paused ? '-' : relativeTime(s.next_run_at, now),
      s.last_run_at ? relativeTime(s.last_run_at, now) : '-',
      s.paused ? 'paused' : 'active',
      shorten(String(s.job.command ?? ''), 40),
    ]),
  );
}

export function scheduleDetail(s: ScheduleResponse, now = Date.now()): string {
  const { command, cwd, env, ...options } = s.job;
  const pairs: Array<[string, string | number]> = [
    ['name', s.name],
    ['when', whenOf(s)],
    ['catch-up', s.catch_up],
    ['state', s.paused ? 'paused' : 'active'],
    ['command', String(command ?? '')],
    ['directory', typeof cwd === 'string' ? cwd : "(the worker's)"],
    // Names only, as `show` prints a job's: values may be secrets.
    ['variables', env !== null && typeof env === 'object' && Object.keys(env).length > 0 ? Object.keys(env).join(', ') : '-'],
    ['job options', Object.keys(options).length > 0 ? JSON.stringify(options) : '-'],
    ['last run', s.last_run_at ? `${localTime(s.last_run_at, now)}, job ${s.last_job_id}` : '-'],
    ['created', localTime(s.created_at, now)],
  ];
  const next = s.paused ? ['(paused)'] : s.next_runs.map((t) => localTime(t, now));
  return `${fields(pairs)}\n\nnext runs:\n${next.map((line) => `  ${line}`).join('\n')}`;
}

function schedulePath(name: string, suffix = ''): string {
  return `/api/schedules/${encodeURIComponent(name)}${suffix}`;
}

export function registerScheduleCommands(program: Command, ctx: CliContext): void {
  const schedule = program.command('schedule').description('recurring jobs: a cron expression or an interval, each tick enqueued once');

  schedule
    .command('add')
    .description('add a schedule that enqueues the command at every tick of a cron expression or an interval')
    .argument('<name>', '1–100 characters of A-Za-z0-9._- ; each tick\'s job id is <name>:<tick in epoch ms>')
    .argument('<command...>', 'one argument: a command line for /bin/sh; several: a program and its arguments (put them after --)')
    .option('--cron <expr>', 'cron expression, 5 fields (6 with seconds first), e.g. "30 9 * * 1-5"')
    .option('--tz <zone>', 'IANA time zone the cron expression is read in (default: this machine\'s zone)')
    .option('--every <duration>', 'an interval instead of cron: 2s, 5m, 1h, 1d; ticks fall on multiples of it since the epoch', parseEvery)
    .option('--queue <queue>', 'the queue its jobs go to (default: default)', parseQueueName)
    .option('--cwd <dir>', 'directory its jobs run in, on the worker\'s machine (default: the current directory)')
    .option('--no-cwd', "record no directory: the jobs run in the worker's own")
    .option('--env <NAME=VALUE>', 'add a variable to the environment of its jobs (repeatable)', collectEnv)
    .addOption(new Option('--catch-up <mode>', 'after downtime: none (skip missed ticks), one (enqueue the latest), all (each, the latest 100 at most)').choices(['none', 'one', 'all']).default(undefined, 'one'))
    .option('--retries <n>', 'retries of each job after its first attempt (default: config max-retries)', integerParser(0))
    .option('--priority <p>', 'priority of each job, higher runs first (default 0)', integerParser(-1_000_000, 1_000_000))
    .option('--timeout <duration>', 'kill each job\'s command after this long (seconds, or 30s, 5m…)', parseWholeSeconds)
    .option('--json', 'print the schedule as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        "  queuectl schedule add nightly --cron '0 3 * * *' --tz Europe/Berlin -- ./backup.sh --full\n" +
        "  queuectl schedule add heartbeat --every 30s -- 'curl -fsS http://127.0.0.1:8080/health'\n" +
        'Give --cron or --every. Each tick is enqueued once, whatever the number of service replicas.',
    )
    .action(async (name: string, words: string[], options: ScheduleAddOptions) => {
      if ((options.cron === undefined) === (options.every === undefined)) throw new UsageError('give --cron <expr> or --every <duration> (one of them)');
      const created = await ctx.call<ScheduleResponse>('POST', '/api/schedules', { body: scheduleInput(name, words, options) });
      render(created, options, (s) => scheduleDetail(s));
    });

  schedule
    .command('list')
    .description('every schedule with its next run')
    .option('--json', 'print one JSON array of schedules (each with its next five run times)')
    .action(async (options: { json?: boolean }) => {
      const { schedules } = await ctx.call<{ schedules: ScheduleResponse[] }>('GET', '/api/schedules');
      render(schedules, options, (list) => scheduleTable(list));
    });

  schedule
    .command('show')
    .description('one schedule with its next five run times and its last run')
    .argument('<name>', 'schedule name')
    .option('--json', 'print as JSON')
    .action(async (name: string, options: { json?: boolean }) => render(await ctx.call<ScheduleResponse>('GET', schedulePath(name)), options, (s) => scheduleDetail(s)));

  for (const [verb, description, said] of [
    ['pause', 'stop enqueueing its ticks until it is resumed', 'paused'],
    ['resume', 'enqueue its ticks again, from the next one (ticks while it was paused are skipped)', 'resumed'],
  ] as const) {
    schedule
      .command(verb)
      .description(description)
      .argument('<name>', 'schedule name')
      .option('--json', 'print the schedule as JSON')
      .action(async (name: string, options: { json?: boolean }) => {
        const s = await ctx.call<ScheduleResponse>('POST', schedulePath(name, `/${verb}`));
        render(s, options, () => (s.paused ? `${said} ${s.name}` : `${said} ${s.name}: next run ${localTime(s.next_run_at)}`));
      });
  }

  schedule
    .command('remove')
    .description('delete a schedule (the jobs it enqueued stay)')
    .argument('<name>', 'schedule name')
    .option('--json', 'print the removed schedule as JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const s = await ctx.call<ScheduleResponse>('DELETE', schedulePath(name));
      render(s, options, () => `removed ${s.name}`);
    });

  schedule
    .command('run')
    .description('enqueue one run of it now, outside its timetable; prints the job id')
    .argument('<name>', 'schedule name')
    .option('--json', 'print the enqueued job as JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const job = await ctx.call<JobResponse>('POST', schedulePath(name, '/run'));
      render(job, options, (j) => j.id);
      if (!options.json) note(`enqueued ${job.id}: ${escapeControls(job.command)}`);
    });
}
