import { Cron } from 'croner';
import { MAX_CATCH_UP_TICKS, ON_TIME_GRACE_MS, Timetable, planTicks } from './timetable';

const T0 = Date.UTC(2030, 0, 2, 3, 4, 0);

describe('Timetable', () => {
  it('gives a cron schedule the next times croner gives, in the time zone', () => {
    const table = Timetable.of({ cron: '30 9 * * 1-5', timezone: 'Europe/Berlin' }, T0);
    const expected = new Cron('30 9 * * 1-5', { timezone: 'Europe/Berlin' }).nextRuns(5, new Date(T0)).map((d) => d.getTime());
    expect(table.nextTicks(T0, 5)).toEqual(expected);
    // 09:30 in Berlin in January is 08:30 UTC.
    expect(new Date(expected[0]).toISOString()).toBe('2030-01-02T08:30:00.000Z');
  });

  it('ticks an interval at multiples of it since the epoch, strictly after the given time', () => {
    const table = Timetable.of({ everySeconds: 2 }, T0);
    expect(table.nextTicks(T0, 3)).toEqual([T0 + 2000, T0 + 4000, T0 + 6000]);
    expect(table.next(T0 + 1)).toBe(T0 + 2000);
  });

  it.each([
    [{ cron: '61 * * * *', timezone: null }, /cron expression "61 \* \* \* \*" is not valid/],
    [{ cron: 'every day', timezone: null }, /is not valid/],
    [{ cron: '0 0 30 2 *', timezone: null }, /never fires/],
    [{ cron: '* * * * *', timezone: 'Mars/Olympus' }, /unknown time zone "Mars\/Olympus"/],
  ])('refuses %j in one line', (timing, message) => {
    expect(() => Timetable.of(timing, T0)).toThrow(message);
    try {
      Timetable.of(timing, T0);
    } catch (e) {
      expect((e as Error).message).not.toMatch(/\n/);
    }
  });
});

describe('planTicks', () => {
  const every2s = Timetable.of({ everySeconds: 2 }, T0);

  it('enqueues a tick that has just come, in every mode, and names the next', () => {
    for (const mode of ['none', 'one', 'all'] as const) {
      expect(planTicks(every2s, T0, T0 + 15, mode)).toEqual({ ticks: [T0], skipped: 0, next: T0 + 2000 });
    }
  });

  it('does nothing before the tick', () => {
    expect(planTicks(every2s, T0, T0 - 1, 'all')).toEqual({ ticks: [], skipped: 0, next: T0 });
  });

  it('after three missed ticks: one enqueues the latest, all every one, none nothing', () => {
    const now = T0 + 4500; // T0, T0+2s and T0+4s came while nobody ticked
    expect(planTicks(every2s, T0, now, 'one')).toEqual({ ticks: [T0 + 4000], skipped: 2, next: T0 + 6000 });
    expect(planTicks(every2s, T0, now, 'all')).toEqual({ ticks: [T0, T0 + 2000, T0 + 4000], skipped: 0, next: T0 + 6000 });
    expect(planTicks(every2s, T0, now, 'none')).toEqual({ ticks: [], skipped: 3, next: T0 + 6000 });
  });

  it('under none, a lone tick later than the grace is skipped', () => {
    const hourly = Timetable.of({ everySeconds: 3600 }, T0);
    const due = hourly.next(T0);
    expect(planTicks(hourly, due, due + ON_TIME_GRACE_MS, 'none').ticks).toEqual([due]);
    expect(planTicks(hourly, due, due + ON_TIME_GRACE_MS + 1, 'none')).toEqual({ ticks: [], skipped: 1, next: due + 3600_000 });
    expect(planTicks(hourly, due, due + ON_TIME_GRACE_MS + 1, 'one').ticks).toEqual([due]);
  });

  it('all enqueues the latest MAX_CATCH_UP_TICKS of a long downtime', () => {
    const plan = planTicks(every2s, T0, T0 + 1000 * 2000, 'all');
    expect(plan.ticks).toHaveLength(MAX_CATCH_UP_TICKS);
    expect(plan.ticks[MAX_CATCH_UP_TICKS - 1]).toBe(T0 + 1000 * 2000);
    // 1,001 ticks came; the count of those left out (a log line's figure) stops at 1,000.
    expect(plan.skipped).toBe(1000 - MAX_CATCH_UP_TICKS);
    expect(planTicks(every2s, T0, T0 + 500 * 2000, 'all').skipped).toBe(501 - MAX_CATCH_UP_TICKS);
  });

  it('catches up cron ticks as croner lists them', () => {
    const minutely = Timetable.of({ cron: '* * * * *', timezone: 'UTC' }, T0);
    const plan = planTicks(minutely, T0 + 60_000, T0 + 5 * 60_000 + 30_000, 'all');
    expect(plan.ticks).toEqual([1, 2, 3, 4, 5].map((m) => T0 + m * 60_000));
    expect(plan.next).toBe(T0 + 6 * 60_000);
  });
});
