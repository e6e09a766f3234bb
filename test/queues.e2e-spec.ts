import { join } from 'node:path';
import { api, markerLines, waitFor } from './support/harness';
import { mostAtOnce, timedCommand, timedRuns } from './support/queue-runs';
import { enqueue, job, pidFrom, runCli, setConfig, startWorker, useQueue, waitForState, waitForWorkers } from './support/workers';

/**
 * Named queues with real workers and real shell commands: a limit across workers, pause and
 * resume, workers serving some queues, per-queue settings, and a SIGKILLed worker whose job
 * keeps its slot until the reaper returns it. Commands record when they ran (timedCommand).
 */
describe('named queues', () => {
  const q = useQueue('queuectl-queues-');
  const setQueue = (name: string, body: Record<string, unknown>) => api(q.svc, 'PATCH', `/api/queues/${name}`, body);

  it('a queue limited to 1 runs its jobs one at a time on two workers of 4 slots, while another queue runs beside it', async () => {
    expect((await setQueue('one', { concurrency: 1 })).status).toBe(200);
    for (let i = 0; i < 6; i++) await enqueue(q.svc, { id: `one-${i}`, queue: 'one', command: timedCommand(q.marker, 'one', 0.4) });
    for (let i = 0; i < 6; i++) await enqueue(q.svc, { id: `many-${i}`, queue: 'many', command: timedCommand(q.marker, 'many', 1) });
    startWorker(q.home, ['--count', '4']);
    startWorker(q.home, ['--count', '4']);
    await waitFor(async () => (await api(q.svc, 'GET', '/api/status')).body.counts.completed === 12, 40_000, 'all 12 jobs to complete');

    const runs = timedRuns(q.marker);
    const one = runs.filter((r) => r.queue === 'one');
    const many = runs.filter((r) => r.queue === 'many');
    expect(one).toHaveLength(6);
    expect(mostAtOnce(one)).toBe(1);
    // The other queue was not held back: its jobs ran together, while the limited queue's ran.
    expect(mostAtOnce(many)).toBeGreaterThan(1);
    const lastOneEnd = Math.max(...one.map((r) => r.end));
    expect(many.filter((r) => r.start < lastOneEnd).length).toBeGreaterThan(0);
    // `worker start --count 4` runs a worker process per CPU: each serves every queue.
    const live = (await api(q.svc, 'GET', '/api/workers')).body.workers.length;
    const listed = (await api(q.svc, 'GET', '/api/queues')).body.queues;
    expect(listed.find((x: { name: string }) => x.name === 'one')).toMatchObject({ concurrency: 1, paused: false, counts: { completed: 6 }, workers: live });
  });

  it('a full queue whose jobs come first does not keep a one-slot claim from another queue', async () => {
    await setQueue('full', { concurrency: 1 });
    for (let i = 0; i < 2; i++) await enqueue(q.svc, { id: `full-${i}`, queue: 'full', command: 'true', priority: 5 });
    await enqueue(q.svc, { id: 'other-0', queue: 'other', command: 'true' });
    const { id } = (await api(q.svc, 'POST', '/api/workers/register', { hostname: 'test', pid: process.pid, concurrency: 1 })).body;
    const claim = async () => (await api(q.svc, 'POST', `/api/workers/${id}/claim`, { limit: 1, wait_ms: 0 })).body.jobs.map((j: { id: string }) => j.id);
    expect(await claim()).toEqual(['full-0']);
    expect(await claim()).toEqual(['other-0']);
    expect(await claim()).toEqual([]);
  });

  it('a paused queue holds a due job while others run; resume starts it within a second', async () => {
    expect(await runCli(['queue', 'pause', 'held'], q.home)).toMatchObject({ code: 0, stdout: 'paused queue held (0 running will finish)\n' });
    await enqueue(q.svc, { id: 'held-job', queue: 'held', command: `echo held-job >> '${q.marker}'` });
    startWorker(q.home, ['--count', '2']);
    await waitForWorkers(q.svc, 1);
    await enqueue(q.svc, { id: 'other-job', command: `echo other-job >> '${q.marker}'` });
    await waitForState(q.svc, 'other-job', 'completed');
    // Long enough for several claims and a recheck of the waiting claim.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await job(q.svc, 'held-job')).state).toBe('pending');
    expect(markerLines(q.marker)).toEqual(['other-job']);

    const resumedAt = Date.now();
    expect((await api(q.svc, 'POST', '/api/queues/held/resume')).body).toMatchObject({ name: 'held', paused: false });
    const done = await waitForState(q.svc, 'held-job', 'completed', 5000);
    expect(Date.parse(done.started_at) - resumedAt).toBeLessThan(1000);
  });

  it('worker start --queues a never runs a job of b', async () => {
    for (const name of ['a', 'b']) for (let i = 0; i < 3; i++) await enqueue(q.svc, { id: `${name}-${i}`, queue: name, command: `echo ${name}-${i} >> '${q.marker}'` });
    startWorker(q.home, ['--queues', 'a']);
    for (let i = 0; i < 3; i++) await waitForState(q.svc, `a-${i}`, 'completed');
    await enqueue(q.svc, { id: 'a-late', queue: 'a', command: `echo a-late >> '${q.marker}'` });
    await waitForState(q.svc, 'a-late', 'completed');
    expect(markerLines(q.marker).sort()).toEqual(['a-0', 'a-1', 'a-2', 'a-late']);
    for (let i = 0; i < 3; i++) expect((await job(q.svc, `b-${i}`)).state).toBe('pending');

    const workers = JSON.parse((await runCli(['worker', 'list', '--json'], q.home)).stdout);
    expect(workers.map((w: { queues: string[] | null }) => w.queues)).toEqual([['a']]);
    const queues = JSON.parse((await runCli(['queue', 'list', '--json'], q.home)).stdout) as Array<{ name: string; workers: number; counts: { pending: number } }>;
    expect(queues.map((x) => [x.name, x.workers, x.counts.pending])).toEqual([
      ['a', 1, 0],
      ['b', 0, 3],
      ['default', 0, 0],
    ]);
  });

  it('settings: the job’s own value wins over the queue’s, the queue’s over the global config', async () => {
    await setConfig(q.svc, 'max-retries', 3);
    expect((await setQueue('tight', { max_retries: 0, job_timeout: 1, backoff_base: 1 })).body).toMatchObject({ max_retries: 0, job_timeout: 1, backoff_base: 1 });
    expect((await enqueue(q.svc, { id: 'global', command: 'true' })).max_retries).toBe(3);
    expect((await enqueue(q.svc, { id: 'by-queue', queue: 'tight', command: 'sleep 5' })).max_retries).toBe(0);
    expect((await enqueue(q.svc, { id: 'own', queue: 'tight', command: 'sleep 2', max_retries: 2, timeout_seconds: 4 })).max_retries).toBe(2);
    // A batch mixing queues: each job takes its own queue's, as stored.
    const batch = await api(q.svc, 'POST', '/api/jobs/batch', { jobs: [{ id: 'b-tight', queue: 'tight', command: 'true' }, { id: 'b-global', command: 'true' }, { id: 'b-own', queue: 'tight', command: 'true', max_retries: 7 }] });
    expect(batch.body.jobs.map((j: { max_retries: number }) => j.max_retries)).toEqual([0, 3, 7]);
    for (const [id, n] of [['b-tight', 0], ['b-global', 3], ['b-own', 7]] as const) expect((await job(q.svc, id)).max_retries).toBe(n);
    startWorker(q.home, ['--count', '3']);
    const killed = await waitForState(q.svc, 'by-queue', 'dead', 15_000);
    expect(killed.last_error).toBe('timeout');
    expect(killed.attempts).toBe(1);
    const own = await waitForState(q.svc, 'own', 'completed', 15_000);
    expect(own.attempts).toBe(1);
    // Cleared (the CLI's "default"), the global setting applies again.
    const cleared = await runCli(['queue', 'set', 'tight', '--max-retries', 'default', '--json'], q.home);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ name: 'tight', max_retries: null, job_timeout: 1 });
    expect((await enqueue(q.svc, { id: 'cleared', queue: 'tight', command: 'true' })).max_retries).toBe(3);
  });

  it('a SIGKILLed worker’s job keeps its queue’s slot until the reaper returns it', async () => {
    await setConfig(q.svc, 'heartbeat-interval', 0.5);
    await setConfig(q.svc, 'lease-timeout', 2);
    await setQueue('solo', { concurrency: 1, backoff_base: 1 });
    const first = startWorker(q.home, ['--count', '2']);
    await enqueue(q.svc, { id: 'victim', queue: 'solo', command: `if [ -e '${q.home}/ran' ]; then true; else touch '${q.home}/ran'; echo $$ > '${q.home}/pid'; sleep 60; fi` });
    await pidFrom(join(q.home, 'pid'));
    await enqueue(q.svc, { id: 'next', queue: 'solo', command: timedCommand(q.marker, 'solo', 0.1) });
    startWorker(q.home, ['--count', '2']);
    await waitForWorkers(q.svc, 2);
    first.signalGroup('SIGKILL');
    await first.exited;

    const next = await waitForState(q.svc, 'next', 'completed', 20_000);
    const victim = await waitForState(q.svc, 'victim', 'completed', 20_000);
    expect(victim.runs[0].error).toBe('worker lost');
    // Until the reaper ended the lost run, it held the queue's one slot.
    expect(Date.parse(next.runs[0].started_at)).toBeGreaterThanOrEqual(Date.parse(victim.runs[0].finished_at));
    const runs = [...victim.runs, ...next.runs].map((r: { started_at: string; finished_at: string }) => ({ queue: 'solo', id: '', start: Date.parse(r.started_at), end: Date.parse(r.finished_at) }));
    expect(mostAtOnce(runs)).toBe(1);
  });

  it('Prometheus metrics carry the queue: backlog per queue and state, pause and limit', async () => {
    for (let i = 0; i < 2; i++) await enqueue(q.svc, { queue: 'mq', command: 'true' });
    await enqueue(q.svc, { command: 'true' });
    await setQueue('mq', { concurrency: 2, paused: true });
    const text = (await api(q.svc, 'GET', '/metrics')).body as string;
    expect(text).toContain('queuectl_queue_jobs{queue="mq",state="pending"} 2');
    expect(text).toContain('queuectl_queue_jobs{queue="default",state="pending"} 1');
    expect(text).toContain('queuectl_queue_paused{queue="mq"} 1');
    expect(text).toContain('queuectl_queue_limit{queue="mq"} 2');
  });

  it('bad input is refused with a one-line error and changes nothing', async () => {
    await setQueue('kept', { concurrency: 2 });
    const before = (await api(q.svc, 'GET', '/api/queues')).body;
    const refusals: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/api/jobs', { command: 'true', queue: 'no spaces' }, /queue must be 1–128 characters/],
      ['POST', '/api/jobs', { command: 'true', queue: 7 }, /queue must be a string/],
      ['PATCH', '/api/queues/kept', { concurrency: -1 }, /concurrency must be 0 \(no limit\) or more/],
      ['PATCH', '/api/queues/kept', { concurrency: 1.5 }, /concurrency must be a whole number/],
      ['PATCH', '/api/queues/kept', { concurrency: 1, limit: 3 }, /limit/],
      ['PATCH', '/api/queues/kept', { concurrency: 1, max_retries: 5000 }, /max_retries must be an integer from 0 to 1000/],
      ['PATCH', '/api/queues/kept', {}, /nothing to change/],
      ['PATCH', '/api/queues/bad%20name', { concurrency: 1 }, /is not a queue name/],
      ['POST', '/api/queues/bad%20name/pause', undefined, /is not a queue name/],
      ['GET', '/api/jobs?queue=a%20b', undefined, /queue must be a queue name/],
    ];
    for (const [method, path, body, message] of refusals) {
      const res = await api(q.svc, method, path, body);
      expect([res.status, res.body.error.message]).toEqual([400, expect.stringMatching(message)]);
      expect(res.body.error.message).not.toContain('\n');
    }
    expect((await api(q.svc, 'GET', '/api/queues/nowhere')).status).toBe(404);
    const cli: Array<[string[], RegExp]> = [
      [['queue', 'set', 'kept', '--concurrency', '-1'], /argument '-1' is invalid/],
      [['queue', 'set', 'kept'], /say what to set/],
      [['queue', 'set', 'kept', '--max-retries', 'lots'], /expected a whole number, or "default"/],
      [['queue', 'pause', 'a b'], /is not a queue name/],
      [['run', '--queue', 'a/b', '--', 'true'], /is not a queue name/],
      [['worker', 'start', '--queues', 'a,,b'], /is not a queue name/],
    ];
    for (const [args, message] of cli) {
      const r = await runCli(args, q.home);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await api(q.svc, 'GET', '/api/queues')).body).toEqual(before);
    expect((await api(q.svc, 'GET', '/api/status')).body.total).toBe(0);
  });
});
