import { performance } from 'node:perf_hooks';

/**
 * Time as the service sees it; injected so policies and tests can control it. `now` is the wall
 * clock (stored, shown, compared with stored times); `monotonic` only moves forward at the rate
 * of real time, whatever is done to the wall clock, and decides how long something has been silent.
 */
export abstract class Clock {
  abstract now(): number;
  /** Milliseconds from an arbitrary origin; comparable only within this process. */
  abstract monotonic(): number;
}

export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }

  monotonic(): number {
    return performance.now();
  }
}

/** How often a DatabaseClock reads the database's clock again. */
export const DATABASE_CLOCK_RESYNC_MS = 10_000;
/** A reading whose round trip took longer than this is not trusted (its error is up to half of it). */
export const DATABASE_CLOCK_MAX_ROUND_TRIP_MS = 100;

/**
 * The database server's clock, as every replica on PostgreSQL tells time: leases, due times and
 * every other stored time then come from one clock, whatever each machine's own says. It reads
 * the server's time now and then and counts on from that reading with this process's monotonic
 * clock, so a step of the local wall clock changes nothing and a reading costs one small query
 * every DATABASE_CLOCK_RESYNC_MS, none on the write path. A reading is placed at the middle of its
 * round trip (error at most half of it); one slower than DATABASE_CLOCK_MAX_ROUND_TRIP_MS is
 * dropped, as is a failed one (the last reading counts on). `now()` never goes back: a reading
 * behind the time already given holds it until real time catches up.
 */
export class DatabaseClock extends Clock {
  private anchorAt = 0;
  private anchorMonotonic = 0;
  private given = -Infinity;
  private timer?: NodeJS.Timeout;

  private constructor(
    private readonly read: () => Promise<number>,
    private readonly local: () => number,
  ) {
    super();
  }

  /** Reads the database's time once (a failure is thrown), then again every `resyncMs`. */
  static async start(read: () => Promise<number>, options: { resyncMs?: number; monotonic?: () => number } = {}): Promise<DatabaseClock> {
    const clock = new DatabaseClock(read, options.monotonic ?? (() => performance.now()));
    if (!(await clock.sync(Infinity))) throw new Error('could not read the database clock');
    const resyncMs = options.resyncMs ?? DATABASE_CLOCK_RESYNC_MS;
    if (resyncMs > 0 && Number.isFinite(resyncMs)) {
      clock.timer = setInterval(() => void clock.sync(), resyncMs);
      clock.timer.unref();
    }
    return clock;
  }

  /** Takes a reading; whether it was used. */
  async sync(maxRoundTripMs = DATABASE_CLOCK_MAX_ROUND_TRIP_MS): Promise<boolean> {
    const sent = this.local();
    let server: number;
    try {
      server = await this.read();
    } catch {
      return false;
    }
    const received = this.local();
    if (!Number.isFinite(server) || received - sent > maxRoundTripMs) return false;
    this.anchorAt = server;
    this.anchorMonotonic = (sent + received) / 2;
    return true;
  }

  now(): number {
    const t = Math.floor(this.anchorAt + (this.local() - this.anchorMonotonic));
    if (t > this.given) this.given = t;
    return this.given;
  }

  monotonic(): number {
    return this.local();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  onModuleDestroy(): void {
    this.stop();
  }
}

// The last answer is kept: the jobs of a batch, or of a page, share a few times.
let lastMs = NaN;
let lastIso = '';

export function toIso(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  const n = Number(ms);
  if (n !== lastMs) {
    lastIso = new Date(n).toISOString();
    lastMs = n;
  }
  return lastIso;
}
