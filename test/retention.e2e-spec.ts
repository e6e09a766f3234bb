import { SqlDatabase } from '../src/database/sql';
import { RetentionSweeper } from '../src/jobs/retention-sweeper';
import { enqueue, http, jobIn } from './support/api-helpers';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

describe('retention of finished jobs', () => {
  let t: TestApp;
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });
  afterEach(() => t.close());

  const ids = async () => (await http(t).get('/api/jobs?limit=1000').set(t.auth)).body.jobs.map((j: { id: string }) => j.id).sort();

  it('prunes completed and dead jobs older than retention-seconds, with their runs, and nothing else', async () => {
    await http(t).put('/api/config/retention-seconds').set(t.auth).send({ value: 3600 }).expect(200);
    await jobIn(t, clock, 'completed', { id: 'old-done', command: 'true' });
    await jobIn(t, clock, 'dead', { id: 'old-dead', command: 'false' });
    await jobIn(t, clock, 'failed', { id: 'old-failed', command: 'false' });
    await enqueue(t, { id: 'old-pending', command: 'true' });
    clock.advance(3000_000);
    await jobIn(t, clock, 'completed', { id: 'young-done', command: 'true' });
    clock.advance(700_000); // old ones finished 3700 s ago, young ones 700 s ago

    const pruned = await t.app.get(RetentionSweeper).sweep();

    expect(pruned).toBe(2);
    expect(await ids()).toEqual(['old-failed', 'old-pending', 'young-done']);
    await http(t).get('/api/jobs/old-done').set(t.auth).expect(404);
    const runs = await t.app.get(SqlDatabase).rows<{ job_id: string }>('SELECT job_id FROM job_attempts ORDER BY job_id');
    expect(runs.map((r) => r.job_id)).toEqual(['old-failed', 'young-done']);
    const status = (await http(t).get('/api/status').set(t.auth)).body;
    expect(status.counts).toMatchObject({ completed: 1, dead: 0, failed: 1, pending: 1 });
  });

  it('keeps everything when retention-seconds is 0', async () => {
    await http(t).put('/api/config/retention-seconds').set(t.auth).send({ value: 0 }).expect(200);
    await jobIn(t, clock, 'completed', { id: 'done', command: 'true' });
    clock.advance(10 * 365 * 86400_000);
    expect(await t.app.get(RetentionSweeper).sweep()).toBe(0);
    expect(await ids()).toEqual(['done']);
  });

  it('prunes more than one slice in one sweep', async () => {
    await http(t).put('/api/config/retention-seconds').set(t.auth).send({ value: 60 }).expect(200);
    const jobs = Array.from({ length: 1100 }, (_, i) => ({ id: `j${i}`, command: 'true' }));
    await http(t).post('/api/jobs/batch').set(t.auth).send({ jobs }).expect(201);
    // Cancelled: 1,100 dead jobs finished now, more than one slice of 1,000.
    await Promise.all(jobs.map((j) => http(t).post(`/api/jobs/${j.id}/cancel`).set(t.auth).expect(200)));
    clock.advance(61_000);
    expect(await t.app.get(RetentionSweeper).sweep()).toBe(1100);
    expect((await http(t).get('/api/status').set(t.auth)).body.total).toBe(0);
  });
});
