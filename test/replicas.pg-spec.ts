import { Clock, DATABASE_CLOCK_MAX_ROUND_TRIP_MS, DatabaseClock } from '../src/common/clock';
import { leaseBudget } from '../src/common/lease-budget';
import { ConfigService } from '../src/config/config.service';
import { SqlDatabase } from '../src/database/sql';
import { JobSignals } from '../src/jobs/job-signals';
import { JobRunsService } from '../src/jobs/job-runs.service';
import { JobsService } from '../src/jobs/jobs.service';
import { RetentionSweeper } from '../src/jobs/retention-sweeper';
import { LeaseReaper } from '../src/workers/lease-reaper';
import { enqueue, http } from './support/api-helpers';
import { postgresUrlOf } from './support/database';
import { waitFor } from './support/harness';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Two services on one PostgreSQL database, as replicas run: what one is told, the other hears
 * through LISTEN/NOTIFY at once — a claim long-polling on one is woken by an enqueue through the
 * other, a worker long-polling on one is stopped through the other, and a setting changed
 * through one holds on the other without a restart.
 */
describe('replicas on one PostgreSQL database', () => {
  let a: TestApp;
  let b: TestApp;

  beforeEach(async () => {
    a = await createTestApp();
    b = await createTestApp({ env: { QUEUECTL_DATABASE_URL: postgresUrlOf(a.home) } });
  });
  afterEach(async () => {
    // b first: a's home names the shared schema, dropped when a closes.
    await b?.close();
    await a?.close();
  });

  const register = async (t: TestApp) =>
    (await http(t).post('/api/workers/register').set(t.auth).send({ hostname: 'test', pid: process.pid, concurrency: 1 }).expect(201)).body.id as string;
  /** Replica `t` takes the leader lock `name` and keeps it until released; `done` says it ran. */
  const holdLeader = async (t: TestApp, name: string) => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const done = t.app.get(SqlDatabase).asLeader(name, async () => {
      entered();
      await held;
      return true;
    });
    await inside;
    return { release, done };
  };
  /** A long-poll claim of up to a minute: it answers at once only if something wakes it. */
  const longPoll = (t: TestApp, worker: string) => http(t).post(`/api/workers/${worker}/claim`).set(t.auth).send({ limit: 1, wait_ms: 60_000 });

  it('an enqueue through one wakes a claim long-polling on the other', async () => {
    const heard: number[] = [];
    b.app.get(JobSignals).onWorkAvailable(() => heard.push(Date.now()));
    const worker = await register(b);
    const claim = longPoll(b, worker).then((r) => ({ r, at: Date.now() }));
    // Let the claim find the queue empty and start waiting.
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    await enqueue(a, { id: 'across', command: 'true' });
    const { r, at } = await claim;
    expect(r.status).toBe(200);
    expect(r.body.jobs.map((j: { id: string }) => j.id)).toEqual(['across']);
    expect(heard.length).toBeGreaterThan(0);
    process.stdout.write(`enqueue through replica a → claimed on replica b: ${at - sent} ms\n`);
  });

  it('a worker long-polling on one is stopped through the other', async () => {
    const worker = await register(b);
    const claim = longPoll(b, worker);
    await new Promise((r) => setTimeout(r, 300));
    expect((await http(a).post('/api/workers/stop').set(a.auth).send({ id: worker })).body).toEqual({ stopping: 1, ids: [worker] });
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([claim.then((r) => r.body), new Promise((r) => (timer = setTimeout(() => r('still waiting'), 20_000)))]);
    clearTimeout(timer);
    expect(answered).toEqual({ jobs: [], stop: true });
  });

  it('claims on both at once take every job exactly once, and the counts of both add up', async () => {
    const jobs = Array.from({ length: 300 }, (_, i) => ({ id: `j-${i}`, command: 'true' }));
    await http(a).post('/api/jobs/batch').set(a.auth).send({ jobs }).expect(201);
    const claimers = [a, b, a, b, a, b].map(async (t) => {
      const worker = await register(t);
      const got: string[] = [];
      for (let round = 0; round < 200; round++) {
        const r = await http(t).post(`/api/workers/${worker}/claim`).set(t.auth).send({ limit: 5, wait_ms: 0 }).expect(200);
        if (r.body.jobs.length === 0) break;
        got.push(...r.body.jobs.map((j: { id: string }) => j.id));
      }
      return got;
    });
    const claimed = (await Promise.all(claimers)).flat();
    expect(claimed).toHaveLength(300);
    expect(new Set(claimed).size).toBe(300);
    for (const t of [a, b]) {
      expect((await http(t).get('/api/status').set(t.auth)).body.counts).toEqual({ pending: 0, processing: 300, completed: 0, failed: 0, dead: 0 });
    }
  });

  it('a setting changed through one holds on the other', async () => {
    expect(b.app.get(ConfigService).get('max-retries')).toBe(3);
    await http(a).put('/api/config/max-retries').set(a.auth).send({ value: 7 }).expect(200);
    await waitFor(() => b.app.get(ConfigService).get('max-retries') === 7, 10_000, 'the setting on replica b');
    expect((await enqueue(b, { id: 'seven', command: 'true' })).max_retries).toBe(7);
  });

  it('sweeps retention on one replica at a time', async () => {
    await http(a).put('/api/config/retention-seconds').set(a.auth).send({ value: 60 }).expect(200);
    await waitFor(() => b.app.get(ConfigService).get('retention-seconds') === 60, 10_000, 'the setting on replica b');
    const jobs = Array.from({ length: 3 }, (_, i) => ({ id: `done-${i}`, command: 'true' }));
    await http(a).post('/api/jobs/batch').set(a.auth).send({ jobs }).expect(201);
    // Finished long ago, as far as retention is concerned.
    await a.app.get(SqlDatabase).write((sql) => sql.run(`UPDATE jobs SET state = 'completed', finished_at = 1`));
    // Replica a is sweeping (it holds the lock) while replica b's sweep comes round.
    const { release, done } = await holdLeader(a, 'retention');
    try {
      expect(await b.app.get(RetentionSweeper).sweep()).toBe(0);
      expect((await http(b).get('/api/status').set(b.auth)).body.counts.completed).toBe(3);
    } finally {
      release();
    }
    expect(await done).toBe(true);
    expect(await b.app.get(RetentionSweeper).sweep()).toBe(3);
  });

  it('recovers lost runs on one replica at a time', async () => {
    // A third replica whose time the test moves; a's and b's own clocks never see its leases expire.
    const clock = new ManualClock();
    const c = await createTestApp({ clock, env: { QUEUECTL_DATABASE_URL: postgresUrlOf(a.home) } });
    let release: (() => void) | undefined;
    try {
      const jobs = c.app.get(JobsService);
      await jobs.enqueue({ id: 'lost', command: 'sleep 60' });
      const [claimed] = await c.app.get(JobRunsService).claim('w-gone', 1);
      expect(claimed.id).toBe('lost');
      // Replica a is sweeping (holds the reaper's lock) when the run's lease and grace are over.
      const held = await holdLeader(a, 'reaper');
      release = held.release;
      const lease = c.app.get(ConfigService).get('lease-timeout') * 1000;
      clock.advance(lease + leaseBudget(lease).reapGraceMs + 1000);
      expect(await c.app.get(LeaseReaper).sweep()).toBe(0);
      // Nor does c's own timer (a sweep a second) recover it meanwhile.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await jobs.show('lost')).state).toBe('processing');
      release();
      expect(await held.done).toBe(true);
      // Free again: c's next sweep, its timer's or this one, recovers the run, once.
      await waitFor(async () => (await c.app.get(LeaseReaper).sweep(), (await jobs.show('lost')).state === 'failed'), 10_000, 'the run recovered');
      const shown = await jobs.show('lost');
      expect({ last_error: shown.last_error, attempts: shown.attempts }).toEqual({ last_error: 'worker lost', attempts: 1 });
    } finally {
      release?.();
      await c.close();
    }
  });

  it("tells time by the database's clock: a stored time lies between the server's readings before and after", async () => {
    expect(a.app.get(Clock)).toBeInstanceOf(DatabaseClock);
    const db = a.app.get(SqlDatabase);
    const serverNow = async () => Number((await db.rows<{ now: number }>('SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS now'))[0].now);
    const before = await serverNow();
    const job = await enqueue(b, { id: 'timed', command: 'true' });
    const after = await serverNow();
    // A reading is placed at the middle of its round trip, so it is off by at most half of one.
    const slack = DATABASE_CLOCK_MAX_ROUND_TRIP_MS / 2;
    expect(Date.parse(job.created_at)).toBeGreaterThanOrEqual(Math.floor(before) - slack);
    expect(Date.parse(job.created_at)).toBeLessThanOrEqual(Math.ceil(after) + slack);
  });
});
