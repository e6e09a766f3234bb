import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { CliContext } from '../context';
import { UsageError } from '../exit-codes';
import { JsonObject, collectEnv, collectIds, integerParser, parseJobJson, parseQueueName, parseTime, parseWholeSeconds } from '../input';
import type { JobResponse } from '../job-views';
import { note, render } from '../render';
import { commandLine } from '../shell-words';
import { escapeControls } from '../terminal-text';
import { addUsageHint, enqueueHint } from '../usage-hints';

/** `enqueue '<json>'` and `run -- <command…>`: the two ways to add jobs. */

export interface EnqueueInput {
  jobs: JsonObject[];
  /** The argument was a JSON array: sent as one all-or-nothing batch. */
  batch: boolean;
  /** Sent as the Idempotency-Key header: the same request sent again within 24 h enqueues nothing more. */
  idempotencyKey?: string;
}

export async function enqueueJobs(ctx: CliContext, input: EnqueueInput): Promise<JobResponse[]> {
  const headers = input.idempotencyKey === undefined ? undefined : { 'idempotency-key': input.idempotencyKey };
  if (!input.batch) return [await ctx.call<JobResponse>('POST', '/api/jobs', { body: input.jobs[0], headers })];
  const answer = await ctx.call<{ jobs: JobResponse[] }>('POST', '/api/jobs/batch', { body: { jobs: input.jobs }, headers });
  return answer.jobs;
}

const IDEMPOTENCY_KEY_HELP = 'send again safely: the same key with the same job within 24 h enqueues nothing more and prints the first answer; with another job it is refused (exit 4)';

export interface RunOptions {
  id?: string;
  retries?: number;
  /** Alias of `retries`. */
  maxRetries?: number;
  priority?: number;
  at?: string;
  /** Seconds from now. */
  delay?: number;
  timeout?: number;
  queue?: string;
  json?: boolean;
  /** Job flows: a directory (false with --no-cwd: the worker's own), variables, ids to wait on. */
  cwd?: string | false;
  env?: Record<string, string>;
  after?: string[];
}

/** Where and how jobs run (`--cwd`, `--no-cwd`, `--env`): for `run` and `enqueue` alike. */
export interface WhereOptions {
  cwd?: string | false;
  env?: Record<string, string>;
}

/**
 * Adds where and how a job runs: the directory given (relative to the caller's), else the
 * caller's own unless the job names one or --no-cwd was given; and the --env variables, under
 * those the job names itself. Never the caller's whole environment: it holds secrets.
 */
export function withWhere(job: JsonObject, options: WhereOptions, callerCwd = process.cwd()): JsonObject {
  const out = { ...job };
  if (out.cwd === undefined && options.cwd !== false) out.cwd = resolve(callerCwd, options.cwd ?? '.');
  if (options.env !== undefined) {
    const own = out.env;
    out.env = own !== null && typeof own === 'object' && !Array.isArray(own) ? { ...options.env, ...own } : (own ?? options.env);
  }
  return out;
}

/**
 * The job `run` enqueues. One argument is a whole command line for the shell (`run 'a | b'`);
 * several are words, each quoted so the command gets exactly the words typed (see shell-words).
 */
export function runInput(words: string[], options: RunOptions, now = Date.now()): EnqueueInput {
  if (options.at !== undefined && options.delay !== undefined) throw new UsageError('give --at or --delay, not both');
  const job: JsonObject = { command: commandLine(words) };
  if (options.id !== undefined) job.id = options.id;
  if (options.retries !== undefined && options.maxRetries !== undefined && options.retries !== options.maxRetries) {
    throw new UsageError('--retries and --max-retries are the same option; give one');
  }
  const retries = options.retries ?? options.maxRetries;
  if (retries !== undefined) job.max_retries = retries;
  if (options.priority !== undefined) job.priority = options.priority;
  if (options.at !== undefined) job.run_at = options.at;
  if (options.delay !== undefined) job.run_at = new Date(now + options.delay * 1000).toISOString();
  if (options.timeout !== undefined) job.timeout_seconds = options.timeout;
  if (options.queue !== undefined) job.queue = options.queue;
  if (options.after !== undefined) job.after = options.after;
  return { jobs: [withWhere(job, options)], batch: false };
}

function printIds(jobs: JobResponse[], json: boolean | undefined, batch: boolean): void {
  render(batch ? jobs : jobs[0], { json }, () => jobs.map((j) => j.id).join('\n'));
}

export function registerEnqueueCommands(program: Command, ctx: CliContext): void {
  const enqueue = program
    .command('enqueue')
    .description('enqueue a job given as JSON (or a JSON array of jobs); prints the id')
    .argument('<json>', 'e.g. \'{"id":"job1","command":"sleep 2","max_retries":3}\'')
    .option('--json', 'print the enqueued job as JSON')
    .option('--cwd <dir>', 'directory to run in, for jobs that name none (default: the current directory)')
    .option('--no-cwd', "record no directory: the command runs in the worker's own")
    .option('--env <NAME=VALUE>', 'add a variable to the environment of each job (repeatable; the JSON "env" wins)', collectEnv)
    .option('--idempotency-key <key>', IDEMPOTENCY_KEY_HELP)
    .addHelpText(
      'after',
      '\nFields: command (required), id, queue, max_retries, priority, run_at (ISO-8601), timeout_seconds, backoff_base,\n' +
        'cwd (absolute directory; default: the current one), env ({"NAME": "value"}), after (ids to wait on);\n' +
        'state, attempts, created_at and updated_at are accepted for the seven-field form.\n' +
        'A batch may wait on its own jobs in any order: \'[{"id":"b","command":"make test","after":["a"]},{"id":"a","command":"make"}]\'\n' +
        'To enqueue a shell command without writing JSON: queuectl run -- <command…>',
    )
    .action(async (text: string, options: { json?: boolean; idempotencyKey?: string } & WhereOptions) => {
      const parsed = parseJobJson(text);
      if ('error' in parsed) throw new UsageError(`${parsed.error}; to enqueue a plain shell command use: queuectl run -- <command…>`);
      const jobs = await enqueueJobs(ctx, { ...parsed, jobs: parsed.jobs.map((j) => withWhere(j, options)), idempotencyKey: options.idempotencyKey });
      printIds(jobs, options.json, parsed.batch);
    });
  addUsageHint(enqueue, enqueueHint);

  const run = program
    .command('run')
    .description('enqueue a shell command without writing JSON; prints the id')
    .argument('<command...>', 'one argument: a command line for /bin/sh; several: a program and its arguments, each passed as typed (put them after -- when they have options)')
    .option('--id <id>', 'job id (default: generated)')
    .option('--retries <n>', 'retries after the first attempt (default: config max-retries); --max-retries is the same', integerParser(0))
    // The spelling of other queuectl tools and of the JSON field max_retries.
    .addOption(new Option('--max-retries <n>').argParser(integerParser(0)).hideHelp())
    .option('--priority <p>', 'higher runs first (default 0)', integerParser(-1_000_000, 1_000_000))
    .option('--at <time>', 'do not run before this time (ISO-8601, or local "2030-01-01 09:00")', parseTime)
    .option('--delay <duration>', 'do not run before this long from now: 30s, 5m, 2h, 1d', parseWholeSeconds)
    .option('--timeout <duration>', 'kill the command after this long (seconds, or 30s, 5m…)', parseWholeSeconds)
    .option('--queue <name>', 'the queue it goes to (default: default); its settings apply, see queuectl queue --help', parseQueueName)
    .option('--cwd <dir>', 'directory to run in, on the worker\'s machine (default: the current directory)')
    .option('--no-cwd', "record no directory: the command runs in the worker's own")
    .option('--env <NAME=VALUE>', 'add a variable to the command\'s environment (repeatable)', collectEnv)
    .option('--after <id,...>', 'run only after these jobs completed; dead if one ends dead (repeatable)', collectIds)
    .option('--json', 'print the enqueued job as JSON')
    .option('--idempotency-key <key>', IDEMPOTENCY_KEY_HELP)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        "  queuectl run --retries 5 --delay 10m -- ./backup.sh --full 'my db'   # the script gets 2 arguments: --full, my db\n" +
        "  queuectl run 'sort big.txt | uniq -c > counts.txt'                    # one argument: a command line for the shell\n" +
        '  queuectl run --id build --cwd ~/app --env MODE=release -- make\n' +
        '  queuectl run --after build -- make test                               # waits until the job build completed\n' +
        'The command runs in the directory run was called from (or --cwd), with the worker\'s environment\n' +
        'plus the --env variables; the rest of the caller\'s environment is not sent.\n' +
        'The id is printed on stdout; the command as stored (words quoted for /bin/sh) on stderr.',
    )
    .action(async (words: string[], options: RunOptions & { idempotencyKey?: string }) => {
      const jobs = await enqueueJobs(ctx, { ...runInput(words, options), idempotencyKey: options.idempotencyKey });
      printIds(jobs, options.json, false);
      if (!options.json) note(`enqueued ${jobs[0].id}: ${escapeControls(jobs[0].command)}`);
    });
  // `run ls -la` without `--` makes commander see an option of ls; say how to pass it through.
  addUsageHint(run, (text) => (/unknown option/.test(text) ? 'put the command after --: queuectl run [options] -- <command…>' : undefined));
}
