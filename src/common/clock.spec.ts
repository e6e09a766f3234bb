import { DatabaseClock } from './clock';

describe('DatabaseClock', () => {
  /** A process's monotonic clock and a database whose clock is `offset` ahead, with a round trip the test sets. */
  function setup(offset: number) {
    const t = { local: 1000, roundTrip: 2, offset, fail: false };
    const read = async () => {
      if (t.fail) throw new Error('connection lost');
      // The server reads its clock halfway through the round trip.
      t.local += t.roundTrip / 2;
      const server = 1_700_000_000_000 + t.local + t.offset;
      t.local += t.roundTrip / 2;
      return server;
    };
    return { t, start: () => DatabaseClock.start(read, { resyncMs: 0, monotonic: () => t.local }) };
  }
  const at = (t: { local: number; offset: number }) => 1_700_000_000_000 + t.local + t.offset;

  it("tells the database's time, counting on with the monotonic clock between readings", async () => {
    const { t, start } = setup(-3_600_000);
    const clock = await start();
    expect(clock.now()).toBe(at(t));
    t.local += 12_345;
    expect(clock.now()).toBe(at(t));
    expect(clock.monotonic()).toBe(t.local);
  });

  it('follows the database when its clock is set, and never goes back', async () => {
    const { t, start } = setup(0);
    const clock = await start();
    t.offset += 5000;
    expect(await clock.sync()).toBe(true);
    expect(clock.now()).toBe(at(t));
    const given = clock.now();
    t.offset -= 2000;
    expect(await clock.sync()).toBe(true);
    // Held until real time passes the time already given.
    expect(clock.now()).toBe(given);
    t.local += 1500;
    expect(clock.now()).toBe(given);
    t.local += 1000;
    expect(clock.now()).toBe(at(t));
  });

  it('drops a reading with a slow round trip, and a failed one', async () => {
    const { t, start } = setup(0);
    const clock = await start();
    t.offset += 60_000;
    t.roundTrip = 500;
    expect(await clock.sync()).toBe(false);
    t.roundTrip = 2;
    t.fail = true;
    expect(await clock.sync()).toBe(false);
    expect(clock.now()).toBe(at({ ...t, offset: 0 }));
  });

  it('refuses to start without a first reading', async () => {
    await expect(DatabaseClock.start(async () => Promise.reject(new Error('down')), { resyncMs: 0 })).rejects.toThrow('could not read the database clock');
  });
});
