import { Injectable } from '@nestjs/common';
import { Clock, toIso } from '../common/clock';
import { JobState } from '../jobs/job-state';
import { JobsRepository } from '../jobs/jobs.repository';
import { JobsService } from '../jobs/jobs.service';
import { WorkerView, WorkersService } from '../workers/workers.service';
import { summarise } from './percentile';

const MINUTE = 60_000;
/** Durations and delays are summarised over at most this many of the newest attempts of the window. */
export const SAMPLE_LIMIT = 10_000;

export interface Distribution {
  /** How many values the figures summarise. */
  count: number;
  avg: number | null;
  p95: number | null;
}


/** The JSON of GET /api/metrics: the queue's figures over a trailing window. */
export interface MetricsSnapshot {
  generated_at: string;
  window_minutes: number;
  counts: Record<JobState, number>;
  total: number;
  /** Attempts finished in the window that succeeded (each moved its job to completed). */
  completed: number;
  /** Attempts finished in the window that did not succeed (retried or dead). */
  failed: number;
  completed_per_minute: number;
  failed_per_minute: number;
  /** completed / (completed + failed) over the window; null when nothing finished. */
  success_rate: number | null;
  /** Run time of the attempts finished in the window (the newest 10,000 at most). */
  duration_ms: Distribution;
  /** How long the job that has waited longest among those due now has waited (0 when none). */
  queue_latency_ms: number;
  /** Wait from due to start of first runs finished in the window (the newest 10,000 at most). */
  start_delay_ms: Distribution;
  /** One entry per minute of the window, oldest first. */
  per_minute: Array<{ start: string; completed: number; failed: number }>;
  workers: { active: number; list: WorkerView[] };
}

/** Counts, rates and durations, computed from the job table on demand. */
@Injectable()
export class MetricsService {
  constructor(
    private readonly jobs: JobsService,
    private readonly repository: JobsRepository,
    private readonly workers: WorkersService,
    private readonly clock: Clock,
  ) {}

  async snapshot(windowMinutes = 60): Promise<MetricsSnapshot> {
    const now = this.clock.now();
    const since = now - windowMinutes * MINUTE;
    const [counts, buckets, durations, delays, oldestDue, workers] = await Promise.all([
      this.jobs.counts(),
      this.repository.finishedAttemptsPerMinute(since, now + 1),
      this.repository.recentDurations(since, SAMPLE_LIMIT),
      this.repository.recentFirstStartDelays(since, SAMPLE_LIMIT),
      this.repository.oldestDueAt(now),
      this.workers.list(),
    ]);

    const perMinute = Array.from({ length: windowMinutes }, (_, i) => ({ start: toIso(since + i * MINUTE)!, completed: 0, failed: 0 }));
    for (const b of buckets) {
      // `until` is now + 1 ms, so a finish at exactly `now` lands in the last bucket, not past it.
      const slot = perMinute[Math.min(b.bucket, windowMinutes - 1)];
      slot.completed += b.succeeded;
      slot.failed += b.failed;
    }
    const completed = perMinute.reduce((a, m) => a + m.completed, 0);
    const failed = perMinute.reduce((a, m) => a + m.failed, 0);
    return {
      generated_at: toIso(now)!,
      window_minutes: windowMinutes,
      counts,
      total: Object.values(counts).reduce((a, b) => a + b, 0),
      completed,
      failed,
      completed_per_minute: round(completed / windowMinutes),
      failed_per_minute: round(failed / windowMinutes),
      success_rate: completed + failed === 0 ? null : round(completed / (completed + failed), 4),
      duration_ms: summarise(durations),
      queue_latency_ms: oldestDue === undefined ? 0 : Math.max(0, now - oldestDue),
      start_delay_ms: summarise(delays),
      per_minute: perMinute,
      workers: { active: workers.length, list: workers },
    };
  }

}

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
