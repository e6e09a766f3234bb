import { Cron } from 'croner';
import { InvalidInput } from '../common/domain-errors';

/** What a schedule does with the ticks that came while no service was running (or it was behind). */
export type CatchUp = 'none' | 'one' | 'all';
export const CATCH_UP_MODES: readonly CatchUp[] = ['none', 'one', 'all'];

/**
 * `all` enqueues at most this many missed ticks (the latest ones): a `* * * * * *` schedule after a
 * day's downtime would otherwise enqueue 86,400 jobs in one go.
 */
export const MAX_CATCH_UP_TICKS = 100;
/**
 * A tick is on time while the next one has not come yet and it is at most this late. Under
 * `none` only an on-time tick is enqueued; the grace covers a busy event loop or a slow commit,
 * not downtime.
 */
export const ON_TIME_GRACE_MS = 30_000;

export type Timing = { cron: string; timezone: string | null } | { everySeconds: number };

/**
 * When a schedule's ticks fall: a cron expression (evaluated by croner, in a time zone) or a fixed
 * interval. Interval ticks are multiples of the interval since the epoch, as BullMQ's `every`:
 * `--every 5m` ticks at :00, :05, …, the same on every replica whenever it was created.
 */
export class Timetable {
  private constructor(
    private readonly cron: Cron | undefined,
    private readonly everyMs: number,
  ) {}

  /** Throws InvalidInput, one line, for an expression croner refuses, an unknown zone or one that never fires. */
  static of(timing: Timing, now: number): Timetable {
    if ('everySeconds' in timing) return new Timetable(undefined, timing.everySeconds * 1000);
    if (timing.timezone !== null) assertTimeZone(timing.timezone);
    let cron: Cron;
    try {
      cron = new Cron(timing.cron, { timezone: timing.timezone ?? undefined });
    } catch (e) {
      throw new InvalidInput(`cron expression ${JSON.stringify(timing.cron)} is not valid: ${oneLine(e)}`);
    }
    const table = new Timetable(cron, 0);
    if (table.tryNext(now) === null) throw new InvalidInput(`cron expression ${JSON.stringify(timing.cron)} never fires`);
    return table;
  }

  /** The first tick strictly after `after`. */
  next(after: number): number {
    const next = this.tryNext(after);
    // A cron that fires at all fires again (croner looks years ahead); an end of time is not a tick.
    return next ?? Number.MAX_SAFE_INTEGER;
  }

  /** The `count` ticks after `after`, in order. */
  nextTicks(after: number, count: number): number[] {
    const ticks: number[] = [];
    for (let t = after; ticks.length < count; ) {
      t = this.next(t);
      if (t === Number.MAX_SAFE_INTEGER) break;
      ticks.push(t);
    }
    return ticks;
  }

  /** The latest `max` ticks in [from, to], in order. */
  ticksBetween(from: number, to: number, max: number): number[] {
    if (this.cron === undefined) {
      const last = Math.floor(to / this.everyMs) * this.everyMs;
      const first = Math.max(Math.ceil(from / this.everyMs) * this.everyMs, last - (max - 1) * this.everyMs);
      const ticks: number[] = [];
      for (let t = first; t <= last; t += this.everyMs) ticks.push(t);
      return ticks;
    }
    // previousRuns looks strictly before its reference.
    return this.cron
      .previousRuns(max, new Date(to + 1))
      .map((d) => d.getTime())
      .filter((t) => t >= from && t <= to)
      .reverse();
  }

  /** How many ticks fall in [from, to] (`from` being one), counted up to `limit`: for the log of a long downtime. */
  countBetween(from: number, to: number, limit: number): number {
    if (this.cron === undefined) return Math.min(limit, Math.floor((to - from) / this.everyMs) + 1);
    let n = 0;
    for (let t = from; t <= to && n < limit; t = this.next(t)) n++;
    return n;
  }

  private tryNext(after: number): number | null {
    if (this.cron === undefined) return Math.floor(after / this.everyMs) * this.everyMs + this.everyMs;
    return this.cron.nextRun(new Date(after))?.getTime() ?? null;
  }
}

/** What one pass of the ticker does with a schedule whose tick `due` has come: the ticks to enqueue and the next one. */
export interface TickPlan {
  ticks: number[];
  /** Missed ticks not enqueued (catch-up `none` or `one`, or beyond MAX_CATCH_UP_TICKS); counted up to 1,000 (a log line's figure, not worth blocking the event loop for). */
  skipped: number;
  next: number;
}

export function planTicks(table: Timetable, due: number, now: number, catchUp: CatchUp): TickPlan {
  if (due > now) return { ticks: [], skipped: 0, next: due };
  const next = table.next(now);
  if (table.next(due) > now) {
    // Only this tick has come: on time (or a little late), whatever the mode.
    if (catchUp === 'none' && now - due > ON_TIME_GRACE_MS) return { ticks: [], skipped: 1, next };
    return { ticks: [due], skipped: 0, next };
  }
  // Several ticks have come and gone: the service was down, or far behind.
  const missed = table.ticksBetween(due, now, MAX_CATCH_UP_TICKS + 1);
  const total = missed.length > MAX_CATCH_UP_TICKS ? table.countBetween(due, now, 1000) : missed.length;
  if (catchUp === 'none') return { ticks: [], skipped: total, next };
  const ticks = catchUp === 'one' ? missed.slice(-1) : missed.slice(-MAX_CATCH_UP_TICKS);
  return { ticks, skipped: total - ticks.length, next };
}

function assertTimeZone(zone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new InvalidInput(`unknown time zone ${JSON.stringify(zone)}: give an IANA name such as Europe/Berlin or UTC`);
  }
}

function oneLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .replace(/\s+/g, ' ')
    .trim();
}
