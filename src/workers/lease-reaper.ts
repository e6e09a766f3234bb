import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock';
import { ConfigService } from '../config/config.service';
import { SqlDatabase } from '../database/sql';
import { JobRunsService } from '../jobs/job-runs.service';

/**
 * Recovers jobs whose worker vanished: every sweep sends each processing job whose run has been
 * silent past its lease and the reap grace (see JobRunsService.requeueExpired, lease-budget.ts)
 * through the failure path as "worker lost". A worker heartbeats every heartbeat-interval and
 * each heartbeat extends its leases by lease-timeout; the worker itself stops a command it could
 * not renew before the lease ends, so by the time the grace is over nothing of the run is left.
 *
 * From a worker's SIGKILL to its job being claimable: at most lease-timeout + reap grace (the
 * last heartbeat may have come just before the kill) + one sweep interval + the retry's backoff
 * (min(backoff-max, base ^ attempts)). At the defaults: 30 + 7 + 1 + 2 = 40 s when the first
 * attempt is lost, 30 + 7 + 1 + 8 = 46 s at worst (the third of max-retries 3; a fourth loss is
 * dead). An idle worker's claim wakes at that due time, so the job starts then.
 *
 * After a restart of the service, a run counts as heard from at start-up (LeaseWatch): workers
 * that outlived the restart get a whole lease and its grace to reconnect and extend their leases.
 *
 * With several replicas on one PostgreSQL database, one sweeps at a time (the leader lock of
 * SqlDatabase.asLeader, as retention): a replica whose turn finds another sweeping skips it.
 * Every recovery is a compare-and-set on the run's fencing number, so two sweeps at once would
 * not recover a run twice, but each would read and re-check the same expired runs.
 */
@Injectable()
export class LeaseReaper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('LeaseReaper');
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<number>;
  private stopped = false;

  constructor(
    private readonly runs: JobRunsService,
    private readonly config: ConfigService,
    private readonly db: SqlDatabase,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sweeping?.catch(() => undefined);
  }

  /** One sweep; returns the number of jobs recovered (0 when another replica is sweeping). */
  async sweep(): Promise<number> {
    return (await this.db.asLeader('reaper', () => this.runs.requeueExpired(this.clock.now()))) ?? 0;
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
