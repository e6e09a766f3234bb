import { Command, InvalidArgumentError } from 'commander';
import type { MetricsSnapshot } from '../../src/metrics/metrics.service';
import { CliContext } from '../context';
import { duration, fields, render } from '../render';

/** `metrics`: the queue's figures over a trailing window, from GET /api/metrics. */

export function metricsView(m: MetricsSnapshot): string {
  const running = m.workers.list.reduce((n, w) => n + w.jobs.length, 0);
  return fields([
    ['pending', m.counts.pending],
    ['processing', m.counts.processing],
    ['completed', m.counts.completed],
    ['failed', m.counts.failed],
    ['dead', m.counts.dead],
    [`completed (${m.window_minutes} min)`, `${m.completed} (${m.completed_per_minute}/min)`],
    [`failed (${m.window_minutes} min)`, `${m.failed} attempts (${m.failed_per_minute}/min)`],
    ['success rate', m.success_rate === null ? '-' : `${(m.success_rate * 100).toFixed(1)}%`],
    ['run time', `avg ${duration(m.duration_ms.avg)}, p95 ${duration(m.duration_ms.p95)} (${m.duration_ms.count} attempts)`],
    ['start delay', `avg ${duration(m.start_delay_ms.avg)}, p95 ${duration(m.start_delay_ms.p95)}`],
    ['queue latency', m.queue_latency_ms === 0 ? 'none waiting' : duration(m.queue_latency_ms)],
    ['workers', `${m.workers.active} active, ${running} jobs running`],
  ]);
}

function minutes(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1440) throw new InvalidArgumentError('must be a whole number of minutes from 1 to 1440');
  return n;
}

export function registerMetricsCommands(program: Command, ctx: CliContext): void {
  program
    .command('metrics')
    .description('throughput, failures, success rate, run time and queue latency over the last hour')
    .option('--minutes <n>', 'length of the trailing window (1-1440)', minutes, 60)
    .option('--json', 'print the figures of GET /api/metrics as JSON')
    .action(async (options: { minutes: number; json?: boolean }) =>
      render(await ctx.call<MetricsSnapshot>('GET', `/api/metrics?minutes=${options.minutes}`), options, metricsView),
    );
}
