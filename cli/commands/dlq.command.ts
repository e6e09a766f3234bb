import { Command } from 'commander';
import { CliContext } from '../context';
import { UsageError } from '../exit-codes';
import { integerParser } from '../input';
import { type JobResponse, deadJobTable } from '../job-views';
import { plural, render } from '../render';
import { idSegment, printJobList } from './jobs.command';

/** `dlq list`, `dlq retry <id> | --all`: the Dead Letter Queue. */

export type RetryInput = { all: true } | { all: false; id: string };

export async function retryDead(ctx: CliContext, input: RetryInput): Promise<{ retried: number; job?: JobResponse }> {
  if (input.all) return ctx.call<{ retried: number }>('POST', '/api/dlq/retry-all');
  const job = await ctx.call<JobResponse>('POST', `/api/dlq/${idSegment(input.id)}/retry`);
  return { retried: 1, job };
}

export function registerDlqCommands(program: Command, ctx: CliContext): void {
  const dlq = program.command('dlq').description('the Dead Letter Queue: jobs that ran out of retries or were cancelled');

  dlq
    .command('list')
    .description('list dead jobs, newest first, with the last error of each')
    .option('--search <text>', 'only jobs whose id or command contains this text')
    .option('--limit <n>', 'at most this many jobs', integerParser(1))
    .option('--json', 'print one JSON array of jobs')
    .action((options: { search?: string; limit?: number; json?: boolean }) =>
      printJobList(ctx, { path: '/api/dlq', search: options.search, limit: options.limit }, options, (jobs) => deadJobTable(jobs)),
    );

  dlq
    .command('retry')
    .description('put a dead job (or every one, with --all) back to pending with attempts 0')
    .argument('[id]', 'job id')
    .option('--all', 'retry every dead job')
    .option('--json', 'print the result as JSON')
    .action(async (id: string | undefined, options: { all?: boolean; json?: boolean }) => {
      if (options.all && id !== undefined) throw new UsageError('give a job id or --all, not both');
      if (!options.all && id === undefined) throw new UsageError('give the id of the job to retry, or --all');
      const result = await retryDead(ctx, options.all ? { all: true } : { all: false, id: id! });
      render(options.all ? { retried: result.retried } : result.job, options, () =>
        options.all ? `retried ${plural(result.retried, 'job')}` : `retried ${id}: pending again`,
      );
    });
}
