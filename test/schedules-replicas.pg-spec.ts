import { http } from './support/api-helpers';
import { postgresUrlOf } from './support/database';
import { CLI, RunningService, api, removeHome, startService, tempHome, waitFor } from './support/harness';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Several replicas on one PostgreSQL schema: a schedule's ticks are enqueued once whichever
 * replica's ticker gets there, and one Idempotency-Key sent to two replicas at once creates one job.
 */
describe('schedules and idempotency keys across replicas', () => {
  it('two serve processes with one schedule enqueue each tick once', async () => {
    const homeA = tempHome();
    const homeB = tempHome();
    const replicas: RunningService[] = [];
    try {
      replicas.push(await startService(homeA, {}, ['serve', '--workers', '0'], CLI));
      replicas.push(await startService(homeB, { QUEUECTL_DATABASE_URL: postgresUrlOf(homeA) }, ['serve', '--workers', '0'], CLI));
      const [a, b] = replicas;
      const added = await api(a, 'POST', '/api/schedules', { name: 'shared', every_seconds: 1, job: { command: 'true' } });
      expect(added.status).toBe(201);
      const created = Date.parse(added.body.created_at);
      // Both tickers run, woken by the add (b through a notification) and by each tick.
      await new Promise((r) => setTimeout(r, 6500));
      const seen = Date.now();
      const tickJobs = async () => {
        const ids: string[] = (await api(b, 'GET', '/api/jobs?limit=1000')).body.jobs.map((j: { id: string }) => j.id);
        return ids.map((id) => Number(id.slice('shared:'.length))).sort((x, y) => x - y);
      };
      const ticks = await tickJobs();
      const expected: number[] = [];
      for (let t = Math.floor(created / 1000) * 1000 + 1000; t <= seen - 300; t += 1000) expected.push(t);
      expect(expected.length).toBeGreaterThanOrEqual(5);
      expect(ticks.slice(0, expected.length)).toEqual(expected);
      expect(ticks.length - expected.length).toBeLessThanOrEqual(1);
      // Each tick's job was inserted once, in the transaction that moved the schedule's last run
      // (on one replica). The ticker goes on meanwhile, so the schedule is read on both sides of
      // the job list and compared with it once no tick came in between.
      const lastRun = async () => Date.parse((await api(a, 'GET', '/api/schedules/shared')).body.last_run_at);
      for (let attempt = 1; ; attempt++) {
        const before = await lastRun();
        const latest = (await tickJobs()).at(-1);
        const after = await lastRun();
        if (before !== after && attempt < 5) continue;
        expect(after).toBe(latest);
        break;
      }
      // Schedule changes reach the other replica's ticker: paused through b, nothing more through a.
      await api(b, 'POST', '/api/schedules/shared/pause');
      await new Promise((r) => setTimeout(r, 300));
      const count = (await api(a, 'GET', '/api/status')).body.total;
      await new Promise((r) => setTimeout(r, 2000));
      expect((await api(a, 'GET', '/api/status')).body.total).toBe(count);
    } finally {
      for (const r of replicas.reverse()) await r.stop();
      removeHome(homeB);
      removeHome(homeA);
    }
  });

  describe('idempotency keys', () => {
    let a: TestApp;
    let b: TestApp;
    beforeEach(async () => {
      a = await createTestApp();
      b = await createTestApp({ env: { QUEUECTL_DATABASE_URL: postgresUrlOf(a.home) } });
    });
    afterEach(async () => {
      await b?.close();
      await a?.close();
    });

    it('one key sent to two replicas at once creates one job; both answer it', async () => {
      for (let round = 0; round < 5; round++) {
        const send = (t: TestApp) => http(t).post('/api/jobs').set(t.auth).set('Idempotency-Key', `k-${round}`).send({ command: `echo ${round}` });
        const answers = await Promise.all([send(a), send(b), send(a), send(b)]);
        expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 201]);
        expect(new Set(answers.map((r) => r.body.id)).size).toBe(1);
      }
      await waitFor(async () => (await http(a).get('/api/status').set(a.auth)).body.total === 5, 5000, 'five jobs');
    });
  });
});
