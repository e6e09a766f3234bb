import { existsSync } from 'node:fs';
import { RunningService, SERVICE_MAIN, api, servicesOfSpec, waitFor } from './support/harness';

/**
 * SPEC §6 "nothing acknowledged is lost", against the BUILT service as a real process (build
 * with `npx tsc -p tsconfig.build.json` first; `npm test` does): SIGKILL right after enqueues
 * are answered, start again on the same home, and every acknowledged job is there. On both
 * dialects: on PostgreSQL a lone enqueue commits by a statement of its own (JobsService.insertAlone),
 * also when it goes in claimed for a waiting worker.
 * The one service per home rule is in service-lock.e2e-spec.ts.
 */

const { newHome, start, cleanUp } = servicesOfSpec('queuectl-durability-');

/** Every job id the service holds, through the API, page by page. */
async function storedIds(svc: RunningService): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: number | null = null;
  for (let page = 0; page < 1000; page++) {
    const res: { status: number; body: { jobs: Array<{ id: string }>; next_cursor: number | null } } = await api(
      svc,
      'GET',
      `/api/jobs?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`,
    );
    expect(res.status).toBe(200);
    for (const j of res.body.jobs) ids.add(j.id);
    cursor = res.body.next_cursor;
    if (cursor === null) return ids;
  }
  throw new Error('too many pages');
}

beforeAll(() => {
  if (!existsSync(SERVICE_MAIN)) throw new Error(`${SERVICE_MAIN} is missing: build first with npx tsc -p tsconfig.build.json`);
});

afterAll(cleanUp);

describe('durability of acknowledged enqueues', () => {
  it('keeps a single enqueue and a batch killed with SIGKILL right after their answer', async () => {
    const home = newHome();
    const acknowledged: string[] = [];
    let svc = await start(home);
    for (let round = 0; round < 3; round++) {
      const one = await api(svc, 'POST', '/api/jobs', { id: `single-${round}`, command: `echo ${round}` });
      expect(one.status).toBe(201);
      await svc.kill('SIGKILL');
      acknowledged.push(`single-${round}`);

      svc = await start(home);
      const batch = await api(svc, 'POST', '/api/jobs/batch', { jobs: [1, 2, 3].map((i) => ({ id: `batch-${round}-${i}`, command: `echo ${i}` })) });
      expect(batch.status).toBe(201);
      await svc.kill('SIGKILL');
      acknowledged.push(...batch.body.jobs.map((j: { id: string }) => j.id));

      svc = await start(home);
      const stored = await storedIds(svc);
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    }
    const shown = await api(svc, 'GET', '/api/jobs/single-0');
    expect(shown.body).toMatchObject({ id: 'single-0', command: 'echo 0', state: 'pending', attempts: 0 });
  });

  it('keeps a job handed to a waiting worker, killed with SIGKILL right after the enqueue’s answer, and recovers its run by its lease', async () => {
    const home = newHome();
    let svc = await start(home);
    // Short leases: the run of a worker that never comes back is recovered within the test.
    expect((await api(svc, 'PUT', '/api/config/heartbeat-interval', { value: 1 })).status).toBe(200);
    expect((await api(svc, 'PUT', '/api/config/lease-timeout', { value: 2 })).status).toBe(200);
    const worker = (await api(svc, 'POST', '/api/workers/register', { hostname: 'test', pid: process.pid, concurrency: 1 })).body;
    const claim = api(svc, 'POST', `/api/workers/${worker.id}/claim`, { limit: 1, wait_ms: 10_000 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect((await api(svc, 'POST', '/api/jobs', { id: 'handed', command: 'true' })).status).toBe(201);
    await svc.kill('SIGKILL');
    await claim;

    svc = await start(home);
    // There, as the waiting claim took it: claimed by that worker, its run open.
    const shown = (await api(svc, 'GET', '/api/jobs/handed')).body;
    expect(shown).toMatchObject({ state: 'processing', worker_id: worker.id, attempts: 1 });
    expect(shown.runs).toEqual([expect.objectContaining({ worker_id: worker.id, attempt: 1, finished_at: null })]);
    // No heartbeat comes from that worker: once its lease is over the job is due again, the run closed.
    await waitFor(async () => (await api(svc, 'GET', '/api/jobs/handed')).body.state === 'failed', 30_000, 'the run recovered');
    const recovered = (await api(svc, 'GET', '/api/jobs/handed')).body;
    expect(recovered).toMatchObject({ state: 'failed', last_error: 'worker lost' });
    expect(recovered.runs).toEqual([expect.objectContaining({ worker_id: worker.id, error: 'worker lost' })]);
  });

  it('keeps every acknowledged enqueue of a concurrent burst cut short by SIGKILL', async () => {
    const home = newHome();
    let svc = await start(home);
    const acknowledged: string[] = [];
    let killed: Promise<void> | undefined;
    const onAnswer = (ids: string[]) => {
      if (killed) return;
      acknowledged.push(...ids);
      // Kill as soon as enough answers are in: the rest are in flight, queued or half-written.
      if (acknowledged.length >= 60) killed = svc.kill('SIGKILL');
    };
    const singles = Array.from({ length: 150 }, (_, i) =>
      api(svc, 'POST', '/api/jobs', { id: `burst-${i}`, command: `echo ${i}` }).then(
        (r) => r.status === 201 && onAnswer([r.body.id]),
        () => undefined,
      ),
    );
    const batches = Array.from({ length: 30 }, (_, b) =>
      api(svc, 'POST', '/api/jobs/batch', { jobs: Array.from({ length: 10 }, (_, i) => ({ id: `burst-b${b}-${i}`, command: 'true' })) }).then(
        (r) => r.status === 201 && onAnswer(r.body.jobs.map((j: { id: string }) => j.id)),
        () => undefined,
      ),
    );
    await Promise.all([...singles, ...batches]);
    await (killed ?? svc.kill('SIGKILL'));
    expect(acknowledged.length).toBeGreaterThanOrEqual(60);

    svc = await start(home);
    const stored = await storedIds(svc);
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    // A batch is all or nothing, also across a crash.
    for (let b = 0; b < 30; b++) {
      const present = Array.from({ length: 10 }, (_, i) => stored.has(`burst-b${b}-${i}`));
      expect(new Set(present).size).toBe(1);
    }
    const status = await api(svc, 'GET', '/api/status');
    expect(status.body.counts.pending).toBe(stored.size);
  });
});
