import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock';
import { ConfigService } from '../config/config.service';
import { JobRunsService } from '../jobs/job-runs.service';

/**
 * Recovers jobs whose worker vanished: every sweep sends each processing job with an expired
 * lease through the failure path as "worker lost". A worker heartbeats every
 * heartbeat-interval and each heartbeat extends its leases by lease-timeout, so a lease expires
 * only when its worker has been silent for a whole lease.
 *
 * From a worker's SIGKILL to its job being claimable: at most lease-timeout (the last heartbeat
 * may have come just before the kill) + one sweep interval + the retry's backoff
 * (min(backoff-max, base ^ attempts)). At the defaults: 30 s + 1 s + 2 s = 33 s when the first
 * attempt is lost, 30 + 1 + 8 = 39 s at worst (the third of max-retries 3; a fourth loss is dead).
 * An idle worker's claim wakes at that due time, so the job starts then.
 */
@Injectable()
export class LeaseReaper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('LeaseReaper');
  private readonly bootedAt: number;
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<number>;
  private stopped = false;

  constructor(
    private readonly runs: JobRunsService,
    private readonly config: ConfigService,
    private readonly clock: Clock,
  ) {
    this.bootedAt = clock.now();
  }

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sweeping?.catch(() => undefined);
  }

  /**
   * One sweep; returns the number of jobs recovered. Reaps nothing during the first lease period
   * after the service started: workers that outlived a restart of the service get that long to
   * reconnect and extend their leases, which expired while nobody could renew them.
   */
  async sweep(now = this.clock.now()): Promise<number> {
    if (now < this.bootedAt + this.config.get('lease-timeout') * 1000) return 0;
    return this.runs.requeueExpired(now);
  }

  /** The sweep runs at least once a second, and at least once per heartbeat interval. */
  private intervalMs(): number {
    return Math.max(50, Math.min(1000, this.config.get('heartbeat-interval') * 1000));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.sweeping = this.sweep();
      this.sweeping
        .then((n) => n > 0 && this.logger.warn(`recovered ${n} job(s) whose worker stopped answering`))
        .catch((e) => this.logger.error(`lease sweep failed: ${(e as Error).message}`))
        .finally(() => this.schedule());
    }, this.intervalMs());
    this.timer.unref();
  }
}
