import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock';
import { SchedulesService } from './schedules.service';

/**
 * The longest sleep between passes. Changes wake the ticker at once (here, and through
 * notifications from other replicas); this bounds how late a tick can be when such a wake-up was
 * lost, and how long a replica trusts the earliest tick it read.
 */
export const MAX_SLEEP_MS = 30_000;
/** After a failed pass (the database away), the next one comes this soon. */
const RETRY_MS = 1000;

/**
 * Runs the schedules: a pass enqueues every due tick (SchedulesService.tickDue), then sleeps until
 * the earliest next tick, at most MAX_SLEEP_MS. Every replica runs one; the compare-and-set in
 * tickDue makes each tick go in once, so no leader is needed and no single replica's pause or
 * death delays a tick.
 */
@Injectable()
export class ScheduleTicker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('schedules');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private unsubscribe?: () => void;

  constructor(
    private readonly schedules: SchedulesService,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.unsubscribe = this.schedules.onChange(() => this.wake());
    this.wake();
  }

  /** Before the database closes (TypeORM closes it at application shutdown): no pass is left half done. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Runs a pass now (or right after the one under way). */
  wake(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async pass(): Promise<void> {
    let delay = RETRY_MS;
    try {
      await this.schedules.tickDue();
      const next = await this.schedules.nextDue();
      delay = next === null ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(0, next - this.clock.now()) + 1);
    } catch (e) {
      this.logger.warn(`schedule pass failed: ${(e as Error).message}`);
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }
}
