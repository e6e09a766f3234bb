import request from 'supertest';
import { SqlDatabase } from '../src/database/sql';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { ManualClock } from './support/manual-clock';
import { createTestApp, TestApp } from './support/test-app';

/**
 * The metrics against the job table: attempts are run through the repository's own claim and
 * report statements on a manual clock, then every figure of /api/metrics is recomputed from the
 * jobs and runs the API returns.
 */
describe('metrics agree with the job table', () => {
  let t: TestApp;
  let clock: ManualClock;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    clock = new ManualClock(Date.UTC(2030, 0, 2, 3, 0, 0));
    t = await createTestApp({ clock });
  });
  afterAll(async () => t?.close());

  /** Claims the next due job and finishes it after `ms` with the given exit code, as a worker would. */
  async function runOne(ms: number, exitCode: number, maxRetriesLeft: boolean): Promise<string> {
    const db = t.app.get(SqlDatabase);
    const repo = t.app.get(JobsRepository);
    const [job] = await db.write((sql) => repo.claimNext(sql, 'w-test', clock.now(), clock.now() + 30_000, 1));
    expect(job).toBeDefined();
    clock.advance(ms);
    const now = clock.now();
    const outcome = { exitCode, error: exitCode === 0 ? null : `exit code ${exitCode}` };
    await db.write(async (sql) => {
      if (exitCode === 0) expect(await repo.completeRuns(sql, [{ id: job.id, lease: job.lease }], now)).toEqual([job.id]);
      else if (maxRetriesLeft) expect(await repo.scheduleRetry(sql, job.id, job.lease, now, now, outcome)).toBe(true);
      else expect(await repo.bury(sql, job.id, job.lease, now, outcome)).toBe(true);
      await repo.finishAttempt(sql, job.id, job.lease, now, outcome);
    });
    return job.id;
  }

  it('counts, rates, success rate, durations and latency match what the jobs say', async () => {
    // Old traffic, outside the one-hour window, must not be counted.
    await http().post('/api/jobs').set(t.auth).send({ id: 'ancient', command: 'true' }).expect(201);
    await runOne(1000, 0, true);
    clock.advance(2 * 3600_000);

    const durations = [120, 450, 80, 3000, 60, 900, 15, 700, 2500, 40, 333, 1200];
    for (let i = 0; i < durations.length; i++) {
      await http().post('/api/jobs').set(t.auth).send({ id: `m${i}`, command: 'true', max_retries: i % 2 }).expect(201);
    }
    for (let i = 0; i < durations.length; i++) {
      clock.advance(10_000 + i * 1000); // spread the finishes over several minutes
      await runOne(durations[i], i % 3 === 0 ? 1 : 0, i % 2 === 1);
    }
    // Two jobs still waiting: the older one sets the queue latency.
    await http().post('/api/jobs').set(t.auth).send({ id: 'waiting-1', command: 'true' }).expect(201);
    clock.advance(7000);
    await http().post('/api/jobs').set(t.auth).send({ id: 'waiting-2', command: 'true' }).expect(201);
    clock.advance(5000);

    const { body: m } = await http().get('/api/metrics').set(t.auth).expect(200);

    // Recompute everything from the jobs and their runs.
    const { body: page } = await http().get('/api/jobs?limit=1000').set(t.auth).expect(200);
    const jobs = page.jobs as Array<{ id: string; state: string; created_at: string; next_run_at: string | null }>;
    const counts: Record<string, number> = { pending: 0, processing: 0, completed: 0, failed: 0, dead: 0 };
    for (const j of jobs) counts[j.state] += 1;
    expect(m.counts).toEqual(counts);
    expect(m.total).toBe(jobs.length);

    const since = clock.now() - 3600_000;
    const runs: Array<{ job: string; run: number; first: boolean; finished: number; duration: number; ok: boolean; started: number }> = [];
    for (const j of jobs) {
      const { body: detail } = await http().get(`/api/jobs/${j.id}`).set(t.auth).expect(200);
      for (const r of detail.runs) {
        if (r.finished_at === null) continue;
        runs.push({
          job: j.id,
          run: r.run,
          // Runs are listed in claim order; the first is the job's first run (run numbers are queue-wide).
          first: r.run === detail.runs[0].run,
          finished: Date.parse(r.finished_at),
          started: Date.parse(r.started_at),
          duration: r.duration_ms,
          ok: r.exit_code === 0 && !r.error,
        });
      }
    }
    const inWindow = runs.filter((r) => r.finished >= since);
    const ok = inWindow.filter((r) => r.ok).length;
    const bad = inWindow.length - ok;
    expect(inWindow.length).toBe(durations.length);
    expect(m.completed).toBe(ok);
    expect(m.failed).toBe(bad);
    // Every success is exactly one job in `completed` that finished in the window.
    expect(ok).toBe(jobs.filter((j) => j.state === 'completed' && j.id !== 'ancient').length);
    expect(m.success_rate).toBeCloseTo(ok / inWindow.length, 4);
    expect(m.completed_per_minute).toBeCloseTo(ok / 60, 2);
    expect(m.per_minute).toHaveLength(60);
    expect(m.per_minute.reduce((a: number, b: { completed: number }) => a + b.completed, 0)).toBe(ok);
    for (const slot of m.per_minute as Array<{ start: string; completed: number; failed: number }>) {
      const from = Date.parse(slot.start);
      const here = inWindow.filter((r) => r.finished >= from && r.finished < from + 60_000);
      expect([slot.completed, slot.failed]).toEqual([here.filter((r) => r.ok).length, here.filter((r) => !r.ok).length]);
    }

    const sorted = inWindow.map((r) => r.duration).sort((a, b) => a - b);
    expect(sorted).toEqual([...durations].sort((a, b) => a - b));
    expect(m.duration_ms.count).toBe(sorted.length);
    expect(m.duration_ms.avg).toBeCloseTo(sorted.reduce((a, b) => a + b, 0) / sorted.length, 1);
    expect(m.duration_ms.p95).toBe(sorted[Math.ceil(0.95 * sorted.length) - 1]);

    const firstRuns = inWindow.filter((r) => r.first);
    const created = new Map(jobs.map((j) => [j.id, Date.parse(j.created_at)]));
    const delays = firstRuns.map((r) => r.started - created.get(r.job)!).sort((a, b) => a - b);
    expect(m.start_delay_ms.count).toBe(delays.length);
    expect(m.start_delay_ms.p95).toBe(delays[Math.ceil(0.95 * delays.length) - 1]);

    // A pending job is due since its creation (none here has run_at), a failed one at next_run_at.
    const due = jobs.flatMap((j) => (j.state === 'pending' ? [created.get(j.id)!] : j.state === 'failed' ? [Date.parse(j.next_run_at!)] : []));
    expect(due.length).toBeGreaterThan(2);
    expect(m.queue_latency_ms).toBe(clock.now() - Math.min(...due));
  });

  it('serves the same figures to Prometheus, behind the token', async () => {
    await http().get('/metrics').expect(401);
    const { body: m } = await http().get('/api/metrics').set(t.auth).expect(200);
    const res = await http().get('/metrics').set(t.auth).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(res.text)?.[1]);
    for (const state of ['pending', 'processing', 'completed', 'failed', 'dead']) {
      expect(value(`queuectl_jobs{state="${state}"}`)).toBe(m.counts[state]);
    }
    expect(value('queuectl_attempts_finished_last_hour{outcome="succeeded"}')).toBe(m.completed);
    expect(value('queuectl_attempts_finished_last_hour{outcome="failed"}')).toBe(m.failed);
    expect(value('queuectl_attempt_duration_seconds{stat="p95"}')).toBeCloseTo(m.duration_ms.p95 / 1000, 6);
    expect(value('queuectl_queue_latency_seconds')).toBeCloseTo(m.queue_latency_ms / 1000, 6);
    expect(value('queuectl_workers_active')).toBe(0);
    expect(res.text).toMatch(/^# TYPE queuectl_process_resident_memory_bytes gauge$/m);
  });

  it('refuses a bad window with one clear message', async () => {
    const res = await http().get('/api/metrics?minutes=0').set(t.auth).expect(400);
    expect(res.body.error.message).toBe('minutes must be from 1 to 1440');
    await http().get('/api/metrics?minutes=5').set(t.auth).expect(200).expect((r) => expect(r.body.per_minute).toHaveLength(5));
  });
});

describe('start delay is measured from when a job became due', () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeAll(async () => {
    clock = new ManualClock(Date.UTC(2030, 0, 2, 3, 0, 0));
    t = await createTestApp({ clock });
  });
  afterAll(async () => t?.close());

  it('a run_at 388 days in the past counts from the enqueue, a future one from itself', async () => {
    const http = () => request(t.app.getHttpServer());
    const db = t.app.get(SqlDatabase);
    const repo = t.app.get(JobsRepository);
    const past = new Date(clock.now() - 388 * 86400_000).toISOString();
    await http().post('/api/jobs').set(t.auth).send({ id: 'past', command: 'true', run_at: past, priority: 1 }).expect(201);
    await http().post('/api/jobs').set(t.auth).send({ id: 'future', command: 'true', run_at: new Date(clock.now() + 60_000).toISOString() }).expect(201);
    const run = async (id: string) => {
      const [job] = await db.write((sql) => repo.claimNext(sql, 'w-test', clock.now(), clock.now() + 30_000, 1));
      expect(job.id).toBe(id);
      clock.advance(100);
      await db.write(async (sql) => {
        await repo.completeRuns(sql, [{ id: job.id, lease: job.lease }], clock.now());
        await repo.finishAttempt(sql, job.id, job.lease, clock.now(), { exitCode: 0, error: null });
      });
    };
    clock.advance(2000);
    await run('past'); // started 2 s after its enqueue
    clock.advance(60_000);
    await run('future'); // started 2,100 ms after its run_at
    const { body: m } = await http().get('/api/metrics').set(t.auth).expect(200);
    expect(m.start_delay_ms).toEqual({ count: 2, avg: 2050, p95: 2100 });
  });
});
