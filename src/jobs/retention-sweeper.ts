import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock';
import { ConfigService } from '../config/config.service';
import { SqlDatabase } from '../database/sql';
import { JobsRepository } from './jobs.repository';
import { IdempotencyKeysRepository } from './idempotency-keys.repository';
import { IDEMPOTENCY_KEY_TTL_MS } from './idempotent-enqueue';

const SWEEP_EVERY_MS = 60_000;
const SLICE = 1000;

/**
 * Prunes completed and dead jobs (with their runs) once they are older than `retention-seconds`.
 * Runs once a minute in slices of 1,000 jobs, each its own short write, so enqueues and reports
 * are never held up behind a large delete. Idempotent: a sweep that is cut short resumes next time.
 */
@Injectable()
export class RetentionSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('retention');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly db: SqlDatabase,
    private readonly jobs: JobsRepository,
    private readonly config: ConfigService,
    private readonly clock: Clock,
    private readonly idempotencyKeys: IdempotencyKeysRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep().catch((e) => this.logger.warn(`retention sweep failed: ${(e as Error).message}`)), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * Deletes every finished job past retention; returns how many. One sweep at a time, and with
   * several replicas on one database one of them at a time (the others find nothing to do).
   */
  sweep(): Promise<number> {
    this.running ??= this.db
      .asLeader('retention', () => this.sweepAll())
      .then((n) => n ?? 0)
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweepAll(): Promise<number> {
    await this.forgetIdempotencyKeys();
    const retention = this.config.get('retention-seconds');
    if (retention <= 0) return 0;
    const before = this.clock.now() - retention * 1000;
    let total = 0;
    for (;;) {
      const n = await this.db.write((sql) => this.jobs.pruneFinishedSlice(sql, before, SLICE));
      total += n;
      if (n < SLICE) return total;
    }
  }

  /** Idempotency keys are answered for 24 h (a key found older is ignored anyway); then they go. */
  private async forgetIdempotencyKeys(): Promise<void> {
    const before = this.clock.now() - IDEMPOTENCY_KEY_TTL_MS;
    while ((await this.db.write((sql) => this.idempotencyKeys.prune(sql, before, SLICE))) === SLICE);
  }
}
