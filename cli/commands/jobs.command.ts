import { Command } from 'commander';
import { CliContext } from '../context';
import { UsageError } from '../exit-codes';
import { integerParser, parseQueueName, parseWholeSeconds } from '../input';
import { JobDetail, JobResponse, jobDetail, jobTable } from '../job-views';
import { plural, printJsonArray, render } from '../render';

/** `list`, `show`, `cancel`, `purge`: inspecting and tidying the queue. */

const PAGE = 1000; // the API's largest page

export interface ListInput {
  /** `/api/jobs`, or `/api/dlq` for dead jobs. */
  path: string;
  state?: string;
  search?: string;
  queue?: string;
  /** At most this many jobs; all of them when absent. */
  limit?: number;
}

/** Pages of jobs, newest first, following `next_cursor` until the end or the limit. */
export async function* jobPages(ctx: CliContext, input: ListInput): AsyncGenerator<JobResponse[]> {
  let cursor: number | null = null;
  let remaining = input.limit ?? Number.POSITIVE_INFINITY;
  do {
    const query = new URLSearchParams();
    if (input.state) query.set('state', input.state);
    if (input.search) query.set('q', input.search);
    if (input.queue) query.set('queue', input.queue);
    query.set('limit', String(Math.min(PAGE, remaining)));
    if (cursor !== null) query.set('cursor', String(cursor));
    const page: { jobs: JobResponse[]; next_cursor: number | null } = await ctx.call('GET', `${input.path}?${query}`);
    remaining -= page.jobs.length;
    cursor = page.next_cursor;
    yield page.jobs;
  } while (cursor !== null && remaining > 0);
}

/** Prints the jobs: streamed as one JSON array, or collected into one table for people. */
export async function printJobList(ctx: CliContext, input: ListInput, options: { json?: boolean }, view: (jobs: JobResponse[]) => string = jobTable): Promise<void> {
  if (options.json) return printJsonArray(jobPages(ctx, input));
  const jobs: JobResponse[] = [];
  for await (const page of jobPages(ctx, input)) jobs.push(...page);
  render(jobs, options, view);
}

/** A job id as a URL path segment; "." and ".." would be read as path steps by every URL parser. */
export function idSegment(id: string): string {
  if (/^\.{1,2}$/.test(id)) throw new UsageError(`"${id}" is not a job id that can be addressed (1–128 characters of A-Za-z0-9._:-, not only dots)`);
  return encodeURIComponent(id);
}

function jobPath(id: string, suffix = ''): string {
  return `/api/jobs/${idSegment(id)}${suffix}`;
}

export function showJob(ctx: CliContext, id: string): Promise<JobDetail> {
  return ctx.call<JobDetail>('GET', jobPath(id));
}

export function cancelJob(ctx: CliContext, id: string): Promise<JobResponse> {
  return ctx.call<JobResponse>('POST', jobPath(id, '/cancel'));
}

export interface PurgeInput {
  states: Array<'completed' | 'dead'>;
  olderThanSeconds: number;
}

export async function purgeJobs(ctx: CliContext, input: PurgeInput): Promise<{ purged: number }> {
  let purged = 0;
  for (const state of input.states) {
    const answer = await ctx.call<{ purged: number }>('POST', '/api/jobs/purge', { body: { state, older_than_seconds: input.olderThanSeconds } });
    purged += answer.purged;
  }
  return { purged };
}

export function registerJobCommands(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list jobs, newest first (all of them unless --limit)')
    .option('--state <state>', 'only jobs in this state: pending, processing, completed, failed, dead')
    .option('--search <text>', 'only jobs whose id or command contains this text')
    .option('--queue <name>', 'only jobs of this queue', parseQueueName)
    .option('--limit <n>', 'at most this many jobs', integerParser(1))
    .option('--json', 'print one JSON array of jobs')
    .action((options: { state?: string; search?: string; queue?: string; limit?: number; json?: boolean }) =>
      printJobList(ctx, { path: '/api/jobs', state: options.state, search: options.search, queue: options.queue, limit: options.limit }, options),
    );

  program
    .command('show')
    .description('show one job with every attempt')
    .argument('<id>', 'job id')
    .option('--json', 'print the job and its runs as JSON')
    .action(async (id: string, options: { json?: boolean }) => render(await showJob(ctx, id), options, jobDetail));

  program
    .command('cancel')
    .description('cancel a job: a waiting one goes to the DLQ, a running one has its command stopped first')
    .argument('<id>', 'job id')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, options: { json?: boolean }) =>
      render(await cancelJob(ctx, id), options, (job) =>
        job.state === 'dead' ? `cancelled ${job.id}` : `cancelling ${job.id}: its command is being stopped`,
      ),
    );

  program
    .command('purge')
    .description('delete completed or dead jobs')
    .option('--completed', 'delete completed jobs')
    .option('--dead', 'delete dead jobs (the DLQ)')
    .option('--older-than <duration>', 'only jobs finished at least this long ago: 30m, 12h, 7d', parseWholeSeconds)
    .option('--json', 'print {"purged": N}')
    .action(async (options: { completed?: boolean; dead?: boolean; olderThan?: number; json?: boolean }) => {
      const states = [...(options.completed ? (['completed'] as const) : []), ...(options.dead ? (['dead'] as const) : [])];
      if (states.length === 0) throw new UsageError('say what to purge: --completed, --dead or both');
      const result = await purgeJobs(ctx, { states, olderThanSeconds: options.olderThan ?? 0 });
      render(result, options, (r) => `purged ${plural(r.purged, 'job')}`);
    });
}
