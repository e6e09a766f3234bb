import { Get, Render } from '@nestjs/common';
import { Clock } from '../common/clock';
import { JOB_STATES } from '../jobs/job-state';
import { MetricsService, MetricsSnapshot } from '../metrics/metrics.service';
import { DashboardController } from './dashboard-controller.decorator';
import { jobPath, withQuery } from './job-views';
import { throughputChart } from './throughput-chart';
import { formatDuration, formatPercent } from './view-format';

/** The overview: counts, the last hour's throughput, the workers at work. */
@DashboardController()
export class OverviewController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
  ) {}

  @Get()
  @Render('pages/overview')
  async page() {
    return { title: 'Overview', nav: 'overview', ...(await this.body()) };
  }

  @Get('fragments/overview')
  @Render('partials/overview-body')
  async fragment() {
    return { layout: false, ...(await this.body()) };
  }

  private async body() {
    return overviewView(await this.metrics.snapshot(60), this.clock.now());
  }
}

export function overviewView(m: MetricsSnapshot, now: number) {
  return {
    counts: JOB_STATES.map((state) => ({ state, n: m.counts[state], href: withQuery('/jobs', { state }) })),
    total: m.total,
    chart: throughputChart(m.per_minute),
    completed: m.completed,
    failed: m.failed,
    rate: m.completed_per_minute,
    successRate: formatPercent(m.success_rate),
    avgDuration: formatDuration(m.duration_ms.avg),
    p95Duration: formatDuration(m.duration_ms.p95),
    latency: m.queue_latency_ms > 0 ? formatDuration(m.queue_latency_ms) : 'none waiting',
    p95StartDelay: formatDuration(m.start_delay_ms.p95),
    workers: m.workers.list.map((w) => ({
      id: w.id,
      where: `${w.hostname} · pid ${w.pid}`,
      concurrency: w.concurrency,
      heartbeat: formatDuration(w.heartbeat_age_ms),
      late: w.heartbeat_age_ms > 15_000,
      stopping: w.stopping,
      jobs: w.jobs.map((j) => ({ id: j.id, href: jobPath(j.id), command: j.command, running: formatDuration(now - Date.parse(j.started_at ?? '')) })),
    })),
  };
}
