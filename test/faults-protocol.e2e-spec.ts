import { RunningService, api, removeHome, runCli, startService, tempHome } from './support/harness';
import { enqueue, job } from './support/workers';

/**
 * Faults of the worker protocol, played by hand against a real service: a run of a deleted job,
 * reset while a job runs, a report sent twice, and a cancel that meets a release.
 */
describe('worker protocol under faults', () => {
  let home: string;
  let svc: RunningService;

  beforeAll(async () => {
    home = tempHome('queuectl-faults-');
    svc = await startService(home);
  });

  afterAll(async () => {
    await svc.stop();
    removeHome(home);
  });

  const register = async () => (await api(svc, 'POST', '/api/workers/register', { hostname: 'test', pid: process.pid, concurrency: 4 })).body;
  const claim = async (w: string, limit = 1) => (await api(svc, 'POST', `/api/workers/${w}/claim`, { limit, wait_ms: 0 })).body;
  const report = (w: string, body: Record<string, unknown>) => api(svc, 'POST', `/api/workers/${w}/report`, body);
  const success = (id: string, lease: number) => ({ id, lease, exit_code: 0, output_base64: '', output_offset: 0 });
  const waiting = async () => (await api(svc, 'GET', '/api/status')).body.counts;

  it('a run of a purged job cannot complete a new job of the same id: fencing values never repeat', async () => {
    const w = await register();
    await enqueue(svc, { id: 'fx1', command: 'true' });
    const [old] = (await claim(w.id)).jobs;
    expect((await report(w.id, { results: [success('fx1', old.lease)] })).body.refused).toEqual([]);
    expect((await api(svc, 'POST', '/api/jobs/purge', { state: 'completed' })).body.purged).toBe(1);
    await expect(job(svc, 'fx1')).rejects.toThrow();

    await enqueue(svc, { id: 'fx1', command: 'sleep 60' });
    const [fresh] = (await claim(w.id)).jobs;
    expect(fresh.id).toBe('fx1');
    expect(fresh.lease).not.toBe(old.lease);
    // The first run's report arrives again, late: it must not touch the new job.
    const late = await report(w.id, { results: [success('fx1', old.lease)] });
    expect(late.body.refused).toEqual(['fx1']);
    const beat = await api(svc, 'POST', `/api/workers/${w.id}/heartbeat`, { running: [{ id: 'fx1', lease: old.lease }] });
    expect(beat.body.lost).toEqual(['fx1']);
    const shown = await job(svc, 'fx1');
    expect(shown.state).toBe('processing');
    // Each run's fencing value is its `run` in the job's runs list.
    expect(shown.runs.map((r: { run: number }) => r.run)).toEqual([fresh.lease]);
    await report(w.id, { results: [success('fx1', fresh.lease)] });
  });

  it('reset is refused (exit 4, nothing deleted) while a job runs, and works once none does', async () => {
    const w = await register();
    await enqueue(svc, { id: 'fx-reset', command: 'sleep 60' });
    const [run] = (await claim(w.id)).jobs;
    const refused = await runCli(['reset', '--yes'], home);
    expect(refused.code).toBe(4);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/fx-reset.*cannot reset while jobs run/);
    expect((await job(svc, 'fx-reset')).state).toBe('processing');

    await report(w.id, { results: [success('fx-reset', run.lease)] });
    const done = await runCli(['reset', '--yes'], home);
    expect(done.code).toBe(0);
    await expect(job(svc, 'fx-reset')).rejects.toThrow();
    // A new job of the same id after the reset gets a fencing value never given before.
    await enqueue(svc, { id: 'fx-reset', command: 'true' });
    const [again] = (await claim(w.id)).jobs;
    expect(again.lease).toBeGreaterThan(run.lease);
    await report(w.id, { results: [success('fx-reset', again.lease)] });
  });

  it('a report sent twice gets the same answer, with the same next claims, and claims nothing more, whichever try comes last', async () => {
    const w = await register();
    await enqueue(svc, { id: 'rep-a', command: 'true' });
    const [a] = (await claim(w.id)).jobs;
    await enqueue(svc, { id: 'rep-b', command: 'true', priority: 9 });
    await enqueue(svc, { id: 'rep-c', command: 'true' });
    const body = { report_id: 'r-twice-1', results: [success('rep-a', a.lease)], claim: 1 };
    // The worker marks the first try: the service does not look for a kept answer.
    const first = await report(w.id, { ...body, first_try: true });
    expect(first.body.refused).toEqual([]);
    expect(first.body.jobs.map((j: { id: string }) => j.id)).toEqual(['rep-b']);
    // The answer was lost on the way; the worker sends the same report again.
    const second = await report(w.id, body);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    // A copy of the first try that was held up on the way arrives last: the id's answer is
    // taken, so it is answered the same, and changes nothing.
    const late = await report(w.id, { ...body, first_try: true });
    expect(late.status).toBe(200);
    expect(late.body).toEqual(first.body);
    expect((await job(svc, 'rep-a')).state).toBe('completed');
    const b = await job(svc, 'rep-b');
    expect({ state: b.state, attempts: b.attempts, runs: b.runs.length }).toEqual({ state: 'processing', attempts: 1, runs: 1 });
    expect((await job(svc, 'rep-c')).state).toBe('pending');
    expect((await waiting()).processing).toBe(1);
    await report(w.id, { results: [success('rep-b', first.body.jobs[0].lease)] });
    const [c] = (await claim(w.id)).jobs;
    await report(w.id, { results: [success('rep-c', c.lease)] });
  });

  it('a job cancelled while claimed and then handed back never starts again: dead, "cancelled"', async () => {
    const w = await register();
    await enqueue(svc, { id: 'cx', command: 'true' });
    const [cx] = (await claim(w.id)).jobs;
    const cancelled = await api(svc, 'POST', '/api/jobs/cx/cancel');
    expect(cancelled.body.cancel_requested).toBe(true);
    // The worker was stopping: it hands the unstarted claim back.
    const back = await report(w.id, { results: [], released: [{ id: 'cx', lease: cx.lease }], claim: 1 });
    expect(back.body.refused).toEqual([]);
    expect(back.body.jobs).toEqual([]);
    const shown = await job(svc, 'cx');
    expect({ state: shown.state, last_error: shown.last_error }).toEqual({ state: 'dead', last_error: 'cancelled' });
    expect((await claim(w.id)).jobs).toEqual([]);
  });
});
