import { ClaimedJob, JobRunsService, RunResult } from '../src/jobs/job-runs.service';
import { enqueue, http } from './support/api-helpers';
import { postgresUrlOf } from './support/database';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Dependencies with two replicas on one PostgreSQL database, under READ COMMITTED: reports that
 * finish a job's dependencies at the same moment on different replicas neither miss the waiting
 * job nor act on it twice.
 */
describe('dependencies across replicas', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await createTestApp();
    b = await createTestApp({ env: { QUEUECTL_DATABASE_URL: postgresUrlOf(a.home) } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const ended = (j: ClaimedJob, exitCode: number): RunResult => ({
    id: j.id,
    lease: j.lease,
    exitCode,
    signal: null,
    error: null,
    output: Buffer.alloc(0),
    outputOffset: 0,
    truncated: false,
  });
  /**
   * Claims on one replica right after another stamped the jobs' due time: each replica counts
   * the database's clock on from its own reading, so they may disagree by a millisecond or two
   * and a job can be due a moment later here. Tried again briefly until `n` come.
   */
  const claimOn = async (t: TestApp, worker: string, n: number): Promise<ClaimedJob[]> => {
    const got: ClaimedJob[] = [];
    for (let i = 0; i < 100 && got.length < n; i++) {
      got.push(...(await t.app.get(JobRunsService).claim(worker, n - got.length)));
      if (got.length < n) await new Promise((r) => setTimeout(r, 10));
    }
    return got;
  };
  const shown = async (id: string) => (await http(a).get(`/api/jobs/${id}`).set(a.auth)).body;

  it('two reports completing the last two dependencies at once, on two replicas, release the waiting job once', async () => {
    for (let round = 0; round < 10; round++) {
      const [x, y, w] = [`x${round}`, `y${round}`, `w${round}`];
      await http(a).post('/api/jobs/batch').set(a.auth).send({ jobs: [{ id: w, command: 'true', after: [x, y] }, { id: x, command: 'true' }, { id: y, command: 'true' }] }).expect(201);
      const [onA] = await claimOn(a, 'worker-a', 1);
      const [onB] = await claimOn(b, 'worker-b', 1);
      expect([onA.id, onB.id].sort()).toEqual([x, y]);
      await Promise.all([a.app.get(JobRunsService).finish('worker-a', [ended(onA, 0)], [], 0), b.app.get(JobRunsService).finish('worker-b', [ended(onB, 0)], [], 0)]);
      expect(await shown(w)).toMatchObject({ state: 'pending', waiting_on: [] });
      const [next] = await claimOn(a, 'worker-a', 1);
      expect(next?.id).toBe(w);
      await a.app.get(JobRunsService).finish('worker-a', [ended(next, 0)], [], 0);
    }
  });

  it('a job enqueued after one that dies at the same moment on another replica ends dead too', async () => {
    for (let round = 0; round < 10; round++) {
      const [d, w] = [`d${round}`, `late${round}`];
      await enqueue(a, { id: d, command: 'false', max_retries: 0 });
      const [job] = await claimOn(b, 'worker-b', 1);
      expect(job.id).toBe(d);
      const [, added] = await Promise.all([
        b.app.get(JobRunsService).finish('worker-b', [ended(job, 1)], [], 0),
        http(a).post('/api/jobs').set(a.auth).send({ id: w, command: 'true', after: [d] }),
      ]);
      expect(added.status).toBe(201);
      expect(await shown(w)).toMatchObject({ state: 'dead', last_error: `dependency failed: ${d}` });
    }
  });
});
