import { Injectable } from '@nestjs/common';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES } from '../jobs/job-state';
import { MetricsService } from './metrics.service';
import { QueuesRepository } from '../queues/queues.repository';

/** Queues labelled one by one, the largest backlogs first; the others are summed under OTHER_QUEUES (bounded series). */
const LABELLED_QUEUES = 50;
const OTHER_QUEUES = '_other';

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
  private readonly queueJobs = this.gauge('queuectl_queue_jobs', `Jobs waiting or running per queue and state (pending, processing, failed); beyond ${LABELLED_QUEUES} queues the smaller backlogs are summed as queue="${OTHER_QUEUES}"`, ['queue', 'state']);
  private readonly queuePaused = this.gauge('queuectl_queue_paused', 'Whether a queue is paused (1) or not (0), for queues with settings', ['queue']);
  private readonly queueLimit = this.gauge('queuectl_queue_limit', 'Jobs of a queue that may process at once, 0 = no limit, for queues with settings', ['queue']);

  constructor(
    private readonly metrics: MetricsService,
    private readonly queues: QueuesRepository,
  ) {
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
    await this.renderQueues();
    return this.registry.metrics();
  }

  private async renderQueues(): Promise<void> {
    const [backlog, settings] = await Promise.all([this.queues.backlogByQueue(), this.queues.settings()]);
    const size = new Map<string, number>();
    for (const r of backlog) size.set(r.queue, (size.get(r.queue) ?? 0) + r.n);
    const labelled = new Set([...size.entries()].sort((a, b) => b[1] - a[1]).slice(0, LABELLED_QUEUES).map(([q]) => q));
    const sums = new Map<string, number>();
    for (const r of backlog) {
      const key = `${labelled.has(r.queue) ? r.queue : OTHER_QUEUES}\n${r.state}`;
      sums.set(key, (sums.get(key) ?? 0) + r.n);
    }
    this.queueJobs.reset();
    for (const [key, n] of sums) {
      const [queue, state] = key.split('\n');
      this.queueJobs.set({ queue, state }, n);
    }
    this.queuePaused.reset();
    this.queueLimit.reset();
    for (const q of [...settings.values()].slice(0, LABELLED_QUEUES * 2)) {
      this.queuePaused.set({ queue: q.name }, Number(q.paused) ? 1 : 0);
      this.queueLimit.set({ queue: q.name }, Number(q.concurrency));
    }
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
