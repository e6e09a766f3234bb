import { SqlDatabase } from '../src/database/sql';
import { NewJob } from '../src/jobs/job-row';
import { JOB_STATES } from '../src/jobs/job-state';
import { JobOutputRepository } from '../src/jobs/job-output.repository';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';
import { newJob } from './support/new-job';

/** JobsRepository against the real schema on a temp SQLite file: claim order, compare-and-set, counts. */

const SECOND = 1000;
const LEASE = 30 * SECOND;

describe('JobsRepository', () => {
  let t: TestApp;
  let clock: ManualClock;
  let repo: JobsRepository;
  let db: SqlDatabase;

  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    repo = t.app.get(JobsRepository);
    db = t.app.get(SqlDatabase);
  });
  afterEach(async () => {
    await t?.close();
  });

  const insert = (...jobs: NewJob[]) => db.write((sql) => repo.insert(sql, jobs, clock.now()));
  const claim = (limit = 1, worker = 'w1') => db.write((sql) => repo.claimNext(sql, worker, clock.now(), clock.now() + LEASE, limit));
  const row = async (id: string) => (await repo.findById(id))!;
  const output = () => t.app.get(JobOutputRepository);

  describe('claimNext', () => {
    it('takes due jobs by priority, then due time, then creation; never a future one', async () => {
      const start = clock.now();
      await insert(newJob('low-old'));
      clock.advance(SECOND);
      await insert(newJob('high-1', { priority: 5 }));
      clock.advance(SECOND);
      await insert(newJob('high-2', { priority: 5 }));
      clock.advance(SECOND);
      // Created last, but due before everything of its priority.
      await insert(newJob('low-due-early', { runAt: start - 10 * SECOND }));
      await insert(newJob('future-top', { priority: 100, runAt: clock.now() + 3600 * SECOND }));
      // Same priority and due time: creation order decides.
      await insert(newJob('same-1', { priority: -1 }), newJob('same-2', { priority: -1 }), newJob('same-3', { priority: -1 }));

      const order: string[] = [];
      for (;;) {
        const [next] = await claim();
        if (!next) break;
        order.push(next.id);
      }
      expect(order).toEqual(['high-1', 'high-2', 'low-due-early', 'low-old', 'same-1', 'same-2', 'same-3']);
      expect((await row('future-top')).state).toBe('pending');

      clock.advance(3600 * SECOND);
      expect((await claim()).map((r) => r.id)).toEqual(['future-top']);
    });

    it('takes the due jobs in claim order across priorities, past jobs not yet due at higher ones, in claims of any size', async () => {
      const start = clock.now();
      const jobs: NewJob[] = [];
      const due: Array<{ id: string; priority: number; dueAt: number; seq: number }> = [];
      // Priority 9 holds none but jobs not yet due; below it, each priority mixes jobs due at
      // different times with jobs not yet due, and queue `other` holds the same mix.
      for (const priority of [9, 5, 4, 2, 0, -3]) {
        for (let k = 0; k < 7; k++) {
          const later = priority === 9 || (priority + k) % 3 === 0;
          const runAt = later ? start + (k + 1) * 3600 * SECOND : start - (k % 4) * SECOND;
          const queue = k % 2 === 0 ? 'default' : 'other';
          const id = `p${priority}-${k}`;
          jobs.push(newJob(id, { priority, runAt, queue }));
          if (!later) due.push({ id, priority, dueAt: runAt, seq: jobs.length });
        }
      }
      await insert(...jobs);
      const order = (of: typeof due) => of.sort((a, b) => b.priority - a.priority || a.dueAt - b.dueAt || a.seq - b.seq).map((d) => d.id);
      const inQueue = (queue: string) => due.filter((d) => jobs.find((j) => j.id === d.id)!.queue === queue);

      // Queue `other` through the claim that names queues: 3, then the rest.
      const scoped = (slots: number) => db.write((sql) => repo.claimNext(sql, 'w1', clock.now(), clock.now() + LEASE, slots, { takes: [{ queue: 'other', slots }] }));
      const fromOther = [...(await scoped(3)), ...(await scoped(50))].map((r) => r.id);
      expect(fromOther).toEqual(order(inQueue('other')));

      // The rest through the plain claim, in claims that end within a priority and across them.
      const taken: string[] = [];
      for (const size of [1, 2, 4, 50]) taken.push(...(await claim(size)).map((r) => r.id));
      expect(taken).toEqual(order(inQueue('default')));
      expect(await claim(50)).toEqual([]);
    });

    it('returns a batch claim in claim order, and marks each job as a worker holds it', async () => {
      await insert(newJob('a', { priority: 1 }), newJob('b', { priority: 3 }), newJob('c', { priority: 2 }));
      const rows = await claim(10, 'worker-x');
      expect(rows.map((r) => r.id)).toEqual(['b', 'c', 'a']);
      for (const r of rows) {
        expect(r).toMatchObject({ state: 'processing', attempts: 1, worker_id: 'worker-x', lease_expires_at: clock.now() + LEASE });
      }
      // Each run gets its own fencing value from the queue-wide run sequence.
      expect(new Set(rows.map((r) => r.lease)).size).toBe(3);
      expect(await claim(10)).toEqual([]);
      // The next claim's runs come after every run of this one.
      await insert(newJob('d'), newJob('e'));
      const later = await claim(10);
      expect(Math.min(...later.map((r) => r.lease))).toBeGreaterThan(Math.max(...rows.map((r) => r.lease)));
      const runs = await repo.findAttempts('b');
      expect(runs).toEqual([expect.objectContaining({ run: rows[0].lease, attempt: 1, worker_id: 'worker-x', started_at: clock.now(), finished_at: null })]);
    });

    it('takes a failed job once its retry is due, in due-time order with pending ones', async () => {
      await insert(newJob('flaky'));
      const [first] = await claim();
      await db.write((sql) => repo.scheduleRetry(sql, 'flaky', first.lease, clock.now(), clock.now() + 5 * SECOND, { exitCode: 1, error: 'exit code 1' }));
      clock.advance(SECOND);
      await insert(newJob('later'));
      expect((await claim()).map((r) => r.id)).toEqual(['later']);
      expect(await claim()).toEqual([]);
      clock.advance(4 * SECOND);
      const [again] = await claim();
      expect(again).toMatchObject({ id: 'flaky', state: 'processing', attempts: 2 });
      expect(again.lease).toBeGreaterThan(first.lease);
      expect((await repo.findAttempts('flaky')).map((a) => [a.run, a.attempt])).toEqual([
        [first.lease, 1],
        [again.lease, 2],
      ]);
    });

    it('never hands one job to two concurrent claims', async () => {
      await insert(...Array.from({ length: 30 }, (_, i) => newJob(`j${i}`)));
      const claims = await Promise.all(Array.from({ length: 12 }, (_, w) => claim(4, `w${w}`)));
      const ids = claims.flat().map((r) => r.id);
      expect(ids).toHaveLength(30);
      expect(new Set(ids).size).toBe(30);
    });
  });

  describe('compare-and-set on the lease', () => {
    it('refuses every report of an attempt whose lease was taken over, changing nothing', async () => {
      await insert(newJob('contested'));
      const [stale] = await claim(1, 'old-worker');
      // The first attempt is given up (its worker was lost) and the job runs again.
      await db.write(async (sql) => {
        expect(await repo.scheduleRetry(sql, 'contested', stale.lease, clock.now(), clock.now(), { exitCode: null, error: 'worker lost' })).toBe(true);
        await repo.finishAttempt(sql, 'contested', stale.lease, clock.now(), { exitCode: null, error: 'worker lost' });
      });
      clock.advance(SECOND);
      const [current] = await claim(1, 'new-worker');
      expect(current.lease).toBe(stale.lease + 1);
      await db.write((sql) => output().appendOutput(sql, 'contested', current.lease, 0, Buffer.from('new output\n'), 1024, false));
      const before = { job: await row('contested'), runs: await db.rows('SELECT * FROM job_attempts ORDER BY run') };

      clock.advance(SECOND);
      const now = clock.now();
      const outcome = { exitCode: 0, error: null };
      const refused = await db.write(async (sql) => [
        (await repo.completeRuns(sql, [{ id: 'contested', lease: stale.lease }], now)).length === 1,
        await repo.scheduleRetry(sql, 'contested', stale.lease, now, now, { exitCode: 1, error: 'late' }),
        await repo.bury(sql, 'contested', stale.lease, now, { exitCode: 1, error: 'late' }),
        await repo.extendLease(sql, 'contested', stale.lease, now + LEASE),
        await output().appendOutput(sql, 'contested', stale.lease, 0, Buffer.from('stale output\n'), 1024, false),
      ]);
      await db.write((sql) => repo.finishAttempt(sql, 'contested', stale.lease, now, outcome));
      expect(refused).toEqual([false, false, false, undefined, false]);
      expect({ job: await row('contested'), runs: await db.rows('SELECT * FROM job_attempts ORDER BY run') }).toEqual(before);

      // The current lease is still honoured.
      expect(await db.write((sql) => repo.extendLease(sql, 'contested', current.lease, now + LEASE))).toEqual({ cancel_requested: 0 });
      expect(await db.write((sql) => repo.completeRuns(sql, [{ id: 'contested', lease: current.lease }], now))).toEqual(['contested']);
      expect((await row('contested')).state).toBe('completed');
      // Completing closed the current run's attempt, and left the lost one's as it was.
      const runs = await repo.findAttempts('contested');
      expect(runs.map((r) => ({ run: Number(r.run), finished_at: r.finished_at === null ? null : Number(r.finished_at), exit_code: r.exit_code, error: r.error }))).toEqual([
        { run: stale.lease, finished_at: now - 2 * SECOND, exit_code: null, error: 'worker lost' },
        { run: current.lease, finished_at: now, exit_code: 0, error: null },
      ]);
      // And a finished job takes no second report, even with its own lease.
      expect(await db.write((sql) => repo.bury(sql, 'contested', current.lease, now, { exitCode: 1, error: 'twice' }))).toBe(false);
    });

    it('applies each transition only from the states TRANSITIONS allows', async () => {
      await insert(newJob('p'));
      const now = clock.now();
      // A pending job cannot be completed, retried from the DLQ, or purged.
      expect(await db.write((sql) => repo.completeRuns(sql, [{ id: 'p', lease: 0 }], now))).toEqual([]);
      expect(await db.write((sql) => repo.retryDead(sql, 'p', now))).toBeUndefined();
      expect(await db.write((sql) => repo.purgeFinished(sql, 'completed', now + SECOND))).toBe(0);
      expect(await db.write((sql) => repo.requestCancel(sql, 'p', now))).toBeUndefined();
      // A dead one cannot be cancelled again.
      expect(await db.write((sql) => repo.cancelWaiting(sql, 'p', now))).toMatchObject({ state: 'dead', last_error: 'cancelled' });
      expect(await db.write((sql) => repo.cancelWaiting(sql, 'p', now))).toBeUndefined();
    });
  });

  it('finds processing jobs whose lease has expired, and only those', async () => {
    await insert(newJob('short'), newJob('long'));
    const now = clock.now();
    await db.write((sql) => repo.claimNext(sql, 'w', now, now + 5 * SECOND, 1));
    await db.write((sql) => repo.claimNext(sql, 'w', now, now + 60 * SECOND, 1));
    clock.advance(10 * SECOND);
    expect((await repo.findExpiredLeases(clock.now(), 10)).map((r) => r.id)).toEqual(['short']);
    clock.advance(60 * SECOND);
    expect((await repo.findExpiredLeases(clock.now(), 10)).map((r) => r.id)).toEqual(['short', 'long']);
  });

  it('keeps the counts by state equal to a real COUNT(*) through inserts, transitions and deletes', async () => {
    // A fixed pseudo-random walk, so a failure replays the same way.
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const actual = async () => {
      const rows = await db.rows<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state');
      const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
      for (const r of rows) counts[r.state] = Number(r.n);
      return counts;
    };
    let next = 0;
    for (let step = 0; step < 400; step++) {
      clock.advance(random(3) * SECOND);
      const now = clock.now();
      const op = random(9);
      await db.write(async (sql) => {
        if (op <= 1) {
          await repo.insert(sql, Array.from({ length: 1 + random(4) }, () => newJob(`walk-${next++}`, { priority: random(3) })), now);
        } else if (op === 2) {
          await repo.claimNext(sql, 'walker', now, now + LEASE, 1 + random(3));
        } else if (op <= 5) {
          const [running] = await sql.rows<{ id: string; lease: number }>("SELECT id, lease FROM jobs WHERE state = 'processing' ORDER BY random() LIMIT 1");
          if (!running) return;
          const outcome = { exitCode: 1, error: 'exit code 1' };
          if (op === 3) await repo.completeRuns(sql, [{ id: running.id, lease: running.lease }], now);
          if (op === 4) await repo.scheduleRetry(sql, running.id, running.lease, now, now + random(5) * SECOND, outcome);
          if (op === 5) await repo.bury(sql, running.id, running.lease, now, outcome);
        } else if (op === 6) {
          const [waiting] = await sql.rows<{ id: string }>("SELECT id FROM jobs WHERE state IN ('pending', 'failed') ORDER BY random() LIMIT 1");
          if (waiting) await repo.cancelWaiting(sql, waiting.id, now);
        } else if (op === 7) {
          if (random(2) === 0) await repo.retryAllDead(sql, now);
          else {
            const [dead] = await sql.rows<{ id: string }>("SELECT id FROM jobs WHERE state = 'dead' LIMIT 1");
            if (dead) await repo.retryDead(sql, dead.id, now);
          }
        } else {
          await repo.purgeFinished(sql, random(2) === 0 ? 'completed' : 'dead', now - random(10) * SECOND);
        }
      });
      if (step % 20 === 19) expect(await repo.countByState()).toEqual(await actual());
    }
    const final = await actual();
    // The walk visited every state, so the comparison above meant something.
    expect(Object.values(final).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const visited = await db.rows<{ state: string }>('SELECT DISTINCT state FROM jobs');
    expect(visited.length).toBeGreaterThanOrEqual(3);
    expect(await repo.countByState()).toEqual(final);

    // Deleting everything (what reset does) brings every count back to zero.
    await db.write((sql) => sql.run('DELETE FROM jobs'));
    expect(await repo.countByState()).toEqual(Object.fromEntries(JOB_STATES.map((s) => [s, 0])));
  });
});
