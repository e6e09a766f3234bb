import { RunningService, api, removeHome, startService, tempHome, waitFor } from './support/harness';
import { enqueue, job, setConfig } from './support/workers';

/**
 * The worker protocol spoken by hand, as two workers that the test plays itself: the fencing
 * value (`lease`) keeps a run that lost its job from changing it.
 */
describe('worker protocol fencing', () => {
  let home: string;
  let svc: RunningService;

  beforeAll(async () => {
    home = tempHome('queuectl-protocol-');
    svc = await startService(home);
  });

  afterAll(async () => {
    await svc.stop();
    removeHome(home);
  });

  const register = async () => (await api(svc, 'POST', '/api/workers/register', { hostname: 'test', pid: process.pid, concurrency: 1 })).body;
  const claim = async (w: string, waitMs = 0) => (await api(svc, 'POST', `/api/workers/${w}/claim`, { limit: 1, wait_ms: waitMs })).body;
  const report = (w: string, results: unknown[], extra: Record<string, unknown> = {}) =>
    api(svc, 'POST', `/api/workers/${w}/report`, { results, ...extra });
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  it('refuses a stale report, heartbeat and output, and accepts those of the current lease', async () => {
    await setConfig(svc, 'heartbeat-interval', 0.25);
    await setConfig(svc, 'lease-timeout', 1);
    await setConfig(svc, 'backoff-base', 1);
    await enqueue(svc, { id: 'fenced', command: 'true' });
    const slow = await register();
    const first = await claim(slow.id);
    expect(first.jobs).toEqual([{ id: 'fenced', command: 'true', lease: 1, attempt: 1, max_retries: 3, timeout_seconds: null, queue: 'default' }]);

    // The slow worker goes silent; the reaper recovers the job, a second worker claims it.
    await waitFor(async () => (await job(svc, 'fenced')).state === 'failed', 10_000, 'the job to be recovered');
    const fast = await register();
    const second = await claim(fast.id, 5000);
    expect(second.jobs[0]).toMatchObject({ id: 'fenced', lease: 2, attempt: 2 });

    const stale = await report(slow.id, [{ id: 'fenced', lease: 1, exit_code: 0, output_base64: b64('late\n'), output_offset: 0 }]);
    expect(stale.status).toBe(200);
    expect(stale.body.refused).toEqual(['fenced']);
    const beat = await api(svc, 'POST', `/api/workers/${slow.id}/heartbeat`, { running: [{ id: 'fenced', lease: 1 }] });
    expect(beat.body.lost).toEqual(['fenced']);
    const output = await api(svc, 'POST', `/api/workers/${slow.id}/output`, { chunks: [{ id: 'fenced', lease: 1, offset: 0, data_base64: b64('stale output') }] });
    expect(output.body.refused).toEqual(['fenced']);
    let j = await job(svc, 'fenced');
    expect(j.state).toBe('processing');
    expect(j.worker_id).toBe(fast.id);

    const current = await api(svc, 'POST', `/api/workers/${fast.id}/heartbeat`, { running: [{ id: 'fenced', lease: 2 }] });
    expect(current.body.lost).toEqual([]);
    const ok = await report(fast.id, [{ id: 'fenced', lease: 2, exit_code: 0, output_base64: b64('fresh\n'), output_offset: 0 }]);
    expect(ok.body.refused).toEqual([]);
    j = await job(svc, 'fenced');
    expect(j.state).toBe('completed');
    expect(j.attempts).toBe(2);
    expect(j.runs.map((r: { error: string | null }) => r.error)).toEqual(['worker lost', null]);
    const text = await fetch(`${svc.url}/api/jobs/fenced/output`, { headers: { authorization: `Bearer ${svc.token}` } });
    expect(await text.text()).toBe('fresh\n');
    // A repeated report of the finished run changes nothing either.
    expect((await report(fast.id, [{ id: 'fenced', lease: 2, exit_code: 1 }])).body.refused).toEqual(['fenced']);
    expect((await job(svc, 'fenced')).state).toBe('completed');
  });

  it('hands back a claimed job untouched, and piggybacks the next claim on a report', async () => {
    await setConfig(svc, 'lease-timeout', 30);
    await enqueue(svc, { id: 'handed-back', command: 'true' });
    await enqueue(svc, { id: 'second', command: 'true' });
    const w = await register();
    const got = await claim(w.id);
    expect(got.jobs[0].id).toBe('handed-back');
    const answer = await report(w.id, [], { released: [{ id: 'handed-back', lease: got.jobs[0].lease }], claim: 1 });
    expect(answer.body.refused).toEqual([]);
    // The handed-back job is pending again with its attempt uncounted; the claim got the next one in order.
    expect(answer.body.jobs.map((x: { id: string }) => x.id)).toEqual(['handed-back']);
    const again = answer.body.jobs[0];
    expect(again.attempt).toBe(1);
    const done = await report(w.id, [{ id: 'handed-back', lease: again.lease, exit_code: 0 }], { claim: 1 });
    expect(done.body.jobs.map((x: { id: string }) => x.id)).toEqual(['second']);
    const finished = await job(svc, 'handed-back');
    expect(finished.state).toBe('completed');
    expect(finished.runs).toHaveLength(1);
  });

  it('a report marked as its first try is not looked up, and a late copy of it is answered as the first was', async () => {
    await enqueue(svc, { id: 'try-a', command: 'true' });
    await enqueue(svc, { id: 'try-b', command: 'true' });
    const w = await register();
    const [a] = (await claim(w.id)).jobs;
    const sent = { report_id: 'r-first-try', first_try: true, claim: 1 };
    const first = await report(w.id, [{ id: 'try-a', lease: a.lease, exit_code: 0 }], sent);
    expect(first.body.jobs.map((x: { id: string }) => x.id)).toEqual(['try-b']);
    // The same first try again (held up on the way), then a retry: one answer for all three.
    for (const extra of [sent, { report_id: 'r-first-try', claim: 1 }]) {
      const again = await report(w.id, [{ id: 'try-a', lease: a.lease, exit_code: 0 }], extra);
      expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: first.body });
    }
    const b = await job(svc, 'try-b');
    expect({ state: b.state, runs: b.runs.length }).toEqual({ state: 'processing', runs: 1 });
    expect((await job(svc, 'try-a')).runs).toHaveLength(1);
    await report(w.id, [{ id: 'try-b', lease: first.body.jobs[0].lease, exit_code: 0 }]);
  });

  it('refuses malformed protocol messages with the error envelope', async () => {
    const w = await register();
    for (const [path, body] of [
      ['/api/workers/register', { hostname: 'x', pid: 0, concurrency: 1 }],
      [`/api/workers/${w.id}/claim`, { limit: 0 }],
      [`/api/workers/${w.id}/claim`, { wait_ms: 3_600_000 }],
      [`/api/workers/${w.id}/report`, { results: [{ id: 'x', lease: 'one', exit_code: 0 }] }],
      [`/api/workers/${w.id}/report`, { results: [{ id: 'x', lease: 1, exit_code: 0, surprise: true }] }],
      [`/api/workers/${w.id}/report`, { results: [], report_id: 'r-x', first_try: 'yes' }],
      [`/api/workers/${w.id}/heartbeat`, { running: 'all' }],
      ['/api/workers', { count: 0 }],
      ['/api/workers/bad%20id/claim', {}],
    ] as const) {
      const res = await api(svc, 'POST', path, body);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(res.body.error.code).toBe('invalid_input');
    }
    const unknown = await api(svc, 'POST', '/api/workers/w-ffffffffffff/heartbeat', { running: [] });
    expect(unknown.status).toBe(404);
  });

  it('answers a waiting claim with stop as soon as the worker is asked to stop', async () => {
    const w = await register();
    const waiting = claim(w.id, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    const stop = await api(svc, 'POST', '/api/workers/stop', { id: w.id });
    expect(stop.body).toEqual({ stopping: 1, ids: [w.id] });
    expect(await waiting).toEqual({ jobs: [], stop: true });
    expect((await api(svc, 'POST', `/api/workers/${w.id}/deregister`, {})).status).toBe(200);
    const live = (await api(svc, 'GET', '/api/workers')).body.workers.map((x: { id: string }) => x.id);
    expect(live).not.toContain(w.id);
  });
});
