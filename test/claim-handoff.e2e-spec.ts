import { join } from 'node:path';
import { TEST_DIALECT } from './support/database';
import { RunningService, api, removeHome, startService, tempHome } from './support/harness';
import { walCommits } from './support/wal';
import { enqueue, job } from './support/workers';

/**
 * An enqueue hands its jobs to the claims long-polling in the service inside its own transaction
 * (ClaimHandoff): the waiting worker is answered by the enqueue's commit, with no wake-up and no
 * commit of its own. Played with workers the test speaks for, so each claim's answer is seen.
 */
describe('claim handoff', () => {
  let home: string;
  let svc: RunningService;

  beforeAll(async () => {
    home = tempHome('queuectl-handoff-');
    svc = await startService(home);
  });

  afterAll(async () => {
    await svc.stop();
    removeHome(home);
  });

  const register = async () => (await api(svc, 'POST', '/api/workers/register', { hostname: 'test', pid: process.pid, concurrency: 2 })).body;
  const claim = async (w: string, body: Record<string, unknown>) => (await api(svc, 'POST', `/api/workers/${w}/claim`, body)).body;
  /** Long enough for a claim's request to be read and asleep. */
  const asleep = () => new Promise((r) => setTimeout(r, 300));

  it('answers a waiting claim with the job from the enqueue’s own transaction: one commit covers both', async () => {
    const w = await register();
    const waiting = claim(w.id, { limit: 1, wait_ms: 10_000 });
    await asleep();
    const dbFile = join(home, 'queue.db');
    const before = TEST_DIALECT === 'sqlite' ? walCommits(dbFile) : 0;
    const sent = Date.now();
    await enqueue(svc, { id: 'handed', command: 'true' });
    const answer = await waiting;
    expect(answer.jobs.map((j: { id: string }) => j.id)).toEqual(['handed']);
    expect(Date.now() - sent).toBeLessThan(2000); // the recheck timer (2 s) did not answer it
    // Read from the write-ahead log itself: the insert and the claim reached the disk together.
    if (TEST_DIALECT === 'sqlite') expect(walCommits(dbFile) - before).toBe(1);
    const stored = await job(svc, 'handed');
    expect(stored).toMatchObject({ state: 'processing', worker_id: w.id, attempts: 1 });
    await api(svc, 'POST', `/api/workers/${w.id}/report`, { results: [{ id: 'handed', lease: answer.jobs[0].lease, exit_code: 0, output_base64: '', output_offset: 0 }] });
    expect((await job(svc, 'handed')).state).toBe('completed');
  });

  it('hands a job to one waiting claim only; the other waits on and takes the next job', async () => {
    const [a, b] = [await register(), await register()];
    const first = claim(a.id, { limit: 1, wait_ms: 10_000 });
    const second = claim(b.id, { limit: 1, wait_ms: 10_000 });
    await asleep();
    await enqueue(svc, { id: 'one', command: 'true' });
    const winner = await Promise.race([first.then((x) => ['a', x] as const), second.then((x) => ['b', x] as const)]);
    expect(winner[1].jobs.map((j: { id: string }) => j.id)).toEqual(['one']);
    await asleep();
    // The other is still waiting; the next job is its.
    await enqueue(svc, { id: 'two', command: 'true' });
    const other = await (winner[0] === 'a' ? second : first);
    expect(other.jobs.map((j: { id: string }) => j.id)).toEqual(['two']);
    expect((await job(svc, 'one')).worker_id).toBe(winner[0] === 'a' ? a.id : b.id);
    expect((await job(svc, 'two')).worker_id).toBe(winner[0] === 'a' ? b.id : a.id);
  });

  it('hands nothing for an enqueue refused, nor a job of a queue the claim does not serve', async () => {
    const w = await register();
    await enqueue(svc, { id: 'taken', command: 'true', queue: 'elsewhere' });
    const waiting = claim(w.id, { limit: 1, wait_ms: 10_000, queues: ['mine'] });
    await asleep();
    // A duplicate id: refused, nothing inserted, nothing handed.
    expect((await api(svc, 'POST', '/api/jobs', { id: 'taken', command: 'true', queue: 'mine' })).status).toBe(409);
    // A job of another queue: not this claim's.
    await enqueue(svc, { id: 'not-mine', command: 'true', queue: 'elsewhere' });
    await enqueue(svc, { id: 'mine-1', command: 'true', queue: 'mine' });
    const answer = await waiting;
    expect(answer.jobs.map((j: { id: string }) => j.id)).toEqual(['mine-1']);
    expect((await job(svc, 'not-mine')).state).toBe('pending');
  });

  it('gives back a job handed to a claim whose worker hung up', async () => {
    const w = await register();
    const controller = new AbortController();
    const waiting = fetch(`${svc.url}/api/workers/${w.id}/claim`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ limit: 1, wait_ms: 10_000 }),
      signal: controller.signal,
    }).catch((e: Error) => e);
    await asleep();
    controller.abort();
    await waiting;
    await asleep();
    await enqueue(svc, { id: 'after-hang-up', command: 'true', queue: 'hang-up' });
    // Not leased to the worker that left: due for the next claim at once.
    const again = await claim(w.id, { limit: 1, wait_ms: 0, queues: ['hang-up'] });
    expect(again.jobs.map((j: { id: string }) => j.id)).toEqual(['after-hang-up']);
  });
});
