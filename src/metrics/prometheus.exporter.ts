import { Injectable } from '@nestjs/common';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES } from '../jobs/job-state';
import { MetricsService } from './metrics.service';

/**
 * The metrics in Prometheus text format. Everything is a gauge read from the job table at scrape
 * time: the table is the truth, survives restarts, and is shared by every replica, where an
 * in-process counter would reset with the process. Rates over the trailing hour are given as
 * gauges for the same reason. The registry is per application, so two apps in one process
 * (tests) never share series.
 */
@Injectable()
export class PrometheusExporter {
  private readonly registry = new Registry();
  private readonly jobs = this.gauge('queuectl_jobs', 'Jobs per state', ['state']);
  private readonly finished = this.gauge('queuectl_attempts_finished_last_hour', 'Attempts finished in the last hour, by outcome', ['outcome']);
  private readonly successRatio = this.gauge('queuectl_success_ratio_last_hour', 'Succeeded / finished attempts in the last hour');
  private readonly duration = this.gauge('queuectl_attempt_duration_seconds', 'Run time of attempts finished in the last hour', ['stat']);
  private readonly latency = this.gauge('queuectl_queue_latency_seconds', 'How long the oldest due job has waited');
  private readonly startDelay = this.gauge('queuectl_start_delay_seconds', 'Wait from due to start of first runs finished in the last hour', ['stat']);
  private readonly workers = this.gauge('queuectl_workers_active', 'Workers with a fresh heartbeat');
  private readonly running = this.gauge('queuectl_worker_running_jobs', 'Jobs running now, over all workers');

  constructor(private readonly metrics: MetricsService) {
    collectDefaultMetrics({ register: this.registry, prefix: 'queuectl_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    const m = await this.metrics.snapshot(60);
    for (const state of JOB_STATES) this.jobs.set({ state }, m.counts[state]);
    this.finished.set({ outcome: 'succeeded' }, m.completed);
    this.finished.set({ outcome: 'failed' }, m.failed);
    if (m.success_rate === null) this.successRatio.reset();
    else this.successRatio.set(m.success_rate);
    setStats(this.duration, m.duration_ms);
    setStats(this.startDelay, m.start_delay_ms);
    this.latency.set(m.queue_latency_ms / 1000);
    this.workers.set(m.workers.active);
    this.running.set(m.counts.processing);
    return this.registry.metrics();
  }

  private gauge(name: string, help: string, labelNames: string[] = []): Gauge<string> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}

function setStats(gauge: Gauge<string>, d: { avg: number | null; p95: number | null }): void {
  gauge.reset();
  if (d.avg !== null) gauge.set({ stat: 'avg' }, d.avg / 1000);
  if (d.p95 !== null) gauge.set({ stat: 'p95' }, d.p95 / 1000);
}
