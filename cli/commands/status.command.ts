import { Command } from 'commander';
import type { JobState } from '../../src/jobs/job-state';
import { CliContext } from '../context';
import { parseQueueName } from '../input';
import { fields, render } from '../render';
import { queueView, showQueue } from './queue.command';

/** `status`: how many jobs are in each state, and how many workers are alive. */

export interface QueueStatus {
  counts: Record<JobState, number>;
  total: number;
  workers: { active: number };
}

// The order a job moves through, so the counts read as a pipeline.
const STATES: readonly JobState[] = ['pending', 'processing', 'completed', 'failed', 'dead'];

export function getStatus(ctx: CliContext): Promise<QueueStatus> {
  return ctx.call<QueueStatus>('GET', '/api/status');
}

export function statusView(status: QueueStatus): string {
  return fields([
    ...STATES.map((s): [string, number] => [s, status.counts[s] ?? 0]),
    ['total', status.total],
    ['workers', `${status.workers.active} active`],
  ]);
}

export function registerStatusCommands(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('counts of jobs in each state and the active workers')
    .option('--queue <name>', 'counts of one queue, with its settings (as queue show)', parseQueueName)
    .option('--json', 'print {counts, total, workers} as JSON (with --queue: the queue)')
    .action(async (options: { json?: boolean; queue?: string }) =>
      options.queue === undefined ? render(await getStatus(ctx), options, statusView) : render(await showQueue(ctx, options.queue), options, queueView),
    );
}
