import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { InvalidInput, QueueNotFound } from '../common/domain-errors';
import { ConfigService } from '../config/config.service';
import { SettingKey, parseSetting } from '../config/settings';
import { SqlDatabase } from '../database/sql';
import { JobSignals } from '../jobs/job-signals';
import { JOB_STATES, JobState } from '../jobs/job-state';
import { DEFAULT_QUEUE } from '../jobs/jobs.repository';
import { WorkersRepository } from '../workers/workers.repository';
import { QueueSettingsDto } from './dto/queue-settings.dto';
import { QueueRow } from './queue.entity';
import { QueueChange, QueuesRepository } from './queues.repository';

/** A queue as the API shows it. Overrides are null where the global setting applies. */
export interface QueueView {
  name: string;
  paused: boolean;
  /** 0 = no limit. */
  concurrency: number;
  max_retries: number | null;
  backoff_base: number | null;
  backoff_max: number | null;
  job_timeout: number | null;
  counts: Record<JobState, number>;
  total: number;
  /** Live workers that take jobs from it (those serving every queue included). */
  workers: number;
}

/** Overrides and the global setting whose rules they follow. */
const OVERRIDES: Array<['max_retries' | 'backoff_base' | 'backoff_max' | 'job_timeout', SettingKey]> = [
  ['max_retries', 'max-retries'],
  ['backoff_base', 'backoff-base'],
  ['backoff_max', 'backoff-max'],
  ['job_timeout', 'job-timeout'],
];

/**
 * Named queues: their counts, pause and resume, limit and overrides. A queue exists while it has
 * jobs or settings; pausing or setting a queue with neither creates its row (as Sidekiq and
 * BullMQ let one configure a queue before its first job).
 */
@Injectable()
export class QueuesService {
  constructor(
    private readonly db: SqlDatabase,
    private readonly queues: QueuesRepository,
    private readonly workers: WorkersRepository,
    private readonly config: ConfigService,
    private readonly signals: JobSignals,
    private readonly clock: Clock,
  ) {}

  /** Every queue with jobs or settings, by name; `default` always. */
  async list(): Promise<QueueView[]> {
    const [settings, counts, serving] = await Promise.all([this.queues.settings(), this.queues.countsByQueue(), this.servingWorkers()]);
    const names = [...new Set([DEFAULT_QUEUE, ...settings.keys(), ...counts.keys()])].sort();
    return names.map((name) => view(name, settings.get(name), counts.get(name), serving(name)));
  }

  async show(name: string): Promise<QueueView> {
    const [row, counts, serving] = await Promise.all([this.queues.find(name), this.queues.countsByQueue(name), this.servingWorkers()]);
    if (!row && !counts.has(name) && name !== DEFAULT_QUEUE) throw new QueueNotFound(name);
    return view(name, row, counts.get(name), serving(name));
  }

  pause(name: string): Promise<QueueView> {
    return this.change(name, { paused: 1 });
  }

  resume(name: string): Promise<QueueView> {
    return this.change(name, { paused: 0 });
  }

  /** Validates every field first: a bad one changes nothing. */
  set(name: string, input: QueueSettingsDto): Promise<QueueView> {
    const change: QueueChange = {};
    if (input.concurrency !== undefined) change.concurrency = input.concurrency;
    if (input.paused !== undefined) change.paused = input.paused ? 1 : 0;
    for (const [field, key] of OVERRIDES) {
      const value = input[field];
      if (value === undefined) continue;
      if (value === null) {
        change[field] = null;
        continue;
      }
      const parsed = parseSetting(key, value);
      if (typeof parsed === 'string') throw new InvalidInput(parsed.replace(key, field));
      change[field] = parsed;
    }
    if (Object.keys(change).length === 0) throw new InvalidInput('nothing to change: give concurrency, paused, max_retries, backoff_base, backoff_max or job_timeout');
    return this.change(name, change);
  }

  private async change(name: string, change: QueueChange): Promise<QueueView> {
    await this.db.write(async (sql) => {
      await this.queues.upsert(sql, name, change, this.clock.now());
      // A resume or a higher limit may make jobs claimable: waiting claims (on every replica) look again.
      if (change.paused === 0 || change.concurrency !== undefined) this.signals.workAvailable(sql);
    });
    return this.show(name);
  }

  /** How many live workers serve a queue. */
  private async servingWorkers(): Promise<(name: string) => number> {
    const live = await this.workers.findLive(this.clock.now() - this.config.get('lease-timeout') * 1000);
    const served = live.map((w) => (w.queues ? new Set(w.queues.split(',')) : undefined));
    return (name) => served.filter((s) => s === undefined || s.has(name)).length;
  }
}

function view(name: string, row: QueueRow | undefined, counts: Record<JobState, number> | undefined, workers: number): QueueView {
  const c = counts ?? (Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>);
  const n = (v: number | null | undefined) => (v === null || v === undefined ? null : Number(v));
  return {
    name,
    paused: Boolean(Number(row?.paused ?? 0)),
    concurrency: Number(row?.concurrency ?? 0),
    max_retries: n(row?.max_retries),
    backoff_base: n(row?.backoff_base),
    backoff_max: n(row?.backoff_max),
    job_timeout: n(row?.job_timeout),
    counts: c,
    total: Object.values(c).reduce((a, b) => a + b, 0),
    workers,
  };
}
