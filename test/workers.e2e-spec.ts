import { api, markerLines, runCli, waitFor } from './support/harness';
import { enqueue, job, startWorker, waitForState, waitForWorkers, useQueue } from './support/workers';

/**
 * Real worker processes (`queuectl worker start`) running real shell commands against a spawned
 * service. Every command appends its job id to a marker file, so runs are counted exactly.
 */
describe('workers run jobs', () => {
  const q = useQueue('queuectl-workers-');

  it('runs 200 jobs over two `worker start --count 2` processes exactly once', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `once-${i}`);
    const res = await api(q.svc, 'POST', '/api/jobs/batch', { jobs: ids.map((id) => ({ id, command: `echo ${id} >> '${q.marker}'` })) });
    expect(res.status).toBe(201);
    const a = startWorker(q.home, ['--count', '2']);
    const b = startWorker(q.home, ['--count', '2']);
    await waitFor(async () => (await api(q.svc, 'GET', '/api/status')).body.counts.completed === 200, 60_000, 'all 200 jobs to complete');

    const lines = markerLines(q.marker);
    expect(lines).toHaveLength(200);
    expect(new Set(lines)).toEqual(new Set(ids));
    const status = (await api(q.svc, 'GET', '/api/status')).body;
    expect(status.counts).toEqual({ pending: 0, processing: 0, completed: 200, failed: 0, dead: 0 });
    // Both processes took part, each under its own registration.
    const done = await api(q.svc, 'GET', '/api/jobs?state=completed&limit=200');
    const byWorker = new Set(done.body.jobs.map((j: { worker_id: string }) => j.worker_id));
    expect(byWorker.size).toBeGreaterThanOrEqual(2);
    for (const j of done.body.jobs) expect(j.attempts).toBe(1);

    a.signalGroup('SIGTERM');
    b.signalGroup('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect((await b.exited).code).toBe(0);
  });

  it('retries a failing job after 2 s and 4 s, shows it failed in between, buries it, and dlq retry resets attempts', async () => {
    await enqueue(q.svc, { id: 'flaky', command: `echo flaky >> '${q.marker}'; exit 3`, max_retries: 2, backoff_base: 2 });
    startWorker(q.home);
    const seen = new Set<string>();
    const final = await waitFor(async () => {
      const j = await job(q.svc, 'flaky');
      seen.add(`${j.state}:${j.attempts}`);
      return j.state === 'dead' ? j : undefined;
    }, 30_000, 'the job to end dead');

    expect(markerLines(q.marker)).toHaveLength(3);
    expect(final.attempts).toBe(3);
    expect(final.last_error).toBe('exit code 3');
    expect(final.exit_code).toBe(3);
    // Waiting for its retry, the job is `failed` with the time it is due.
    expect(seen).toContain('failed:1');
    expect(seen).toContain('failed:2');
    const runs = final.runs as Array<{ started_at: string; finished_at: string; error: string; exit_code: number }>;
    expect(runs.map((r) => r.error)).toEqual(['exit code 3', 'exit code 3', 'exit code 3']);
    const gap = (i: number) => Date.parse(runs[i + 1].started_at) - Date.parse(runs[i].finished_at);
    expect(gap(0)).toBeGreaterThanOrEqual(2000);
    expect(gap(0)).toBeLessThan(3500);
    expect(gap(1)).toBeGreaterThanOrEqual(4000);
    expect(gap(1)).toBeLessThan(5500);

    const retried = await runCli(['dlq', 'retry', 'flaky', '--json'], q.home);
    expect(retried.code).toBe(0);
    const back = JSON.parse(retried.stdout);
    expect(back.state).toBe('pending');
    expect(back.attempts).toBe(0);
    expect(back.last_error).toBeNull();
    // It runs again, with a fresh budget: three more runs before it is dead again.
    await waitFor(async () => markerLines(q.marker).length === 4, 10_000, 'the retried job to run');
    const again = await job(q.svc, 'flaky');
    expect(again.attempts).toBe(1);
  });

  it('keeps the reason of a missing command (127) and of a signal', async () => {
    await enqueue(q.svc, { id: 'missing', command: 'definitely-not-a-command-4711', max_retries: 0 });
    await enqueue(q.svc, { id: 'signalled', command: `echo signalled >> '${q.marker}'; kill -KILL $$`, max_retries: 0 });
    await enqueue(q.svc, { id: 'ok', command: 'true', max_retries: 0 });
    startWorker(q.home, ['--count', '2']);
    const missing = await waitForState(q.svc, 'missing', 'dead');
    expect(missing.exit_code).toBe(127);
    expect(missing.last_error).toBe('command not found (exit code 127)');
    expect(missing.runs[0].error).toBe('command not found (exit code 127)');
    const signalled = await waitForState(q.svc, 'signalled', 'dead');
    expect(signalled.last_error).toBe('killed by SIGKILL');
    expect(signalled.runs[0].error).toBe('killed by SIGKILL');
    expect(markerLines(q.marker)).toEqual(['signalled']);
    await waitForState(q.svc, 'ok', 'completed');
    const logs = await runCli(['logs', 'missing'], q.home);
    expect(logs.stdout).toMatch(/definitely-not-a-command-4711.*not found/);
  });

  it('claims by priority, then due time, then creation, and never before run_at', async () => {
    const runAt = new Date(Date.now() + 2500).toISOString();
    const jobs = [
      { id: 'low', priority: -5 },
      { id: 'mid-1', priority: 0 },
      { id: 'later', priority: 100, run_at: runAt },
      { id: 'high', priority: 10 },
      { id: 'mid-2', priority: 0 },
      { id: 'top', priority: 50 },
    ];
    for (const j of jobs) await enqueue(q.svc, { ...j, command: `echo ${j.id} >> '${q.marker}'` });
    startWorker(q.home, ['--count', '1']);
    await waitFor(() => markerLines(q.marker).length === 6, 20_000, 'all six jobs to run');
    expect(markerLines(q.marker)).toEqual(['top', 'high', 'mid-1', 'mid-2', 'low', 'later']);
    const later = await job(q.svc, 'later');
    expect(Date.parse(later.started_at)).toBeGreaterThanOrEqual(Date.parse(runAt));
  });

  it('starts a job enqueued on an idle worker without waiting for a poll', async () => {
    startWorker(q.home);
    await waitForWorkers(q.svc, 1);
    // Long enough that the worker is waiting in its long-poll, not between claims.
    await new Promise((r) => setTimeout(r, 300));
    const queued = await enqueue(q.svc, { id: 'prompt', command: `echo prompt >> '${q.marker}'` });
    const done = await waitForState(q.svc, 'prompt', 'completed', 5000);
    // The long-poll is woken by the enqueue: far below the 2 s safety recheck.
    expect(Date.parse(done.started_at) - Date.parse(queued.created_at)).toBeLessThan(1500);
  });
});
