import { join } from 'node:path';
import { api, markerLines, runCli, waitFor } from './support/harness';
import { enqueue, job, pidFrom, startWorker, waitForWorkers, useQueue, running } from './support/workers';

/** Stopping workers: Ctrl+C drains, `worker stop` drains every worker, a second signal stops at once. */
describe('stopping workers', () => {
  const q = useQueue('queuectl-stop-');

  it('SIGINT to the worker process group during `sleep 2` lets the job finish, leaves the next pending, exits 0', async () => {
    const worker = startWorker(q.home);
    await enqueue(q.svc, { id: 'running', command: `echo $$ > '${q.home}/pid'; sleep 2; echo running >> '${q.marker}'` });
    const pid = await pidFrom(join(q.home, 'pid'));
    // Counted live while it runs the job, and no longer once it has stopped (below).
    expect((await api(q.svc, 'GET', '/api/status')).body.workers.active).toBe(1);
    await enqueue(q.svc, { id: 'next', command: `echo next >> '${q.marker}'` });
    // Ctrl+C at a terminal: SIGINT to the whole foreground process group.
    worker.signalGroup('SIGINT');
    const exit = await worker.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(running(pid)).toBe(false);
    expect(markerLines(q.marker)).toEqual(['running']);
    expect((await job(q.svc, 'running')).state).toBe('completed');
    const next = await job(q.svc, 'next');
    expect(next.state).toBe('pending');
    expect(next.attempts).toBe(0);
    expect((await api(q.svc, 'GET', '/api/status')).body.workers.active).toBe(0);
  });

  it('with a free slot waiting for work, a job enqueued during the drain is not started', async () => {
    const worker = startWorker(q.home, ['--count', '2']);
    await enqueue(q.svc, { id: 'running', command: `echo $$ > '${q.home}/pid'; sleep 1.5; echo running >> '${q.marker}'` });
    await pidFrom(join(q.home, 'pid'));
    worker.signalGroup('SIGINT');
    // The second slot's claim is waiting in the service when the stop begins: whichever comes
    // first, the claim answered `stop` or the job claimed and handed back, it must not run.
    await enqueue(q.svc, { id: 'next', command: `echo next >> '${q.marker}'` });
    expect((await worker.exited).code).toBe(0);
    expect(markerLines(q.marker)).toEqual(['running']);
    const next = await job(q.svc, 'next');
    expect(next.state).toBe('pending');
    expect(next.attempts).toBe(0);
  });

  it('`worker stop` from another process drains every worker of the queue; with none running it is a no-op', async () => {
    const a = startWorker(q.home);
    const b = startWorker(q.home);
    await waitForWorkers(q.svc, 2);
    await enqueue(q.svc, { id: 'one', command: `sleep 1.5; echo one >> '${q.marker}'` });
    await enqueue(q.svc, { id: 'two', command: `sleep 1.5; echo two >> '${q.marker}'` });
    await waitFor(async () => (await api(q.svc, 'GET', '/api/status')).body.counts.processing === 2, 10_000, 'both jobs to run');
    await enqueue(q.svc, { id: 'three', command: `echo three >> '${q.marker}'` });

    const stop = await runCli(['worker', 'stop'], q.home);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/stopped 2 workers/);
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(await b.exited).toEqual({ code: 0, signal: null });
    expect(markerLines(q.marker).sort()).toEqual(['one', 'two']);
    expect((await job(q.svc, 'three')).state).toBe('pending');

    const again = await runCli(['worker', 'stop'], q.home);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/no workers running/);
    const list = await runCli(['worker', 'list', '--json'], q.home);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('`worker stop --id` stops only that worker', async () => {
    const a = startWorker(q.home);
    startWorker(q.home);
    await waitForWorkers(q.svc, 2);
    const workers = (await api(q.svc, 'GET', '/api/workers')).body.workers;
    const target = workers.find((w: { pid: number }) => w.pid === a.pid);
    const stop = await runCli(['worker', 'stop', '--id', target.id, '--json'], q.home);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toEqual({ stopping: 1, ids: [target.id] });
    expect((await a.exited).code).toBe(0);
    const left = (await api(q.svc, 'GET', '/api/workers')).body.workers;
    expect(left).toHaveLength(1);
    expect(left[0].id).not.toBe(target.id);
    const unknown = await runCli(['worker', 'stop', '--id', 'w-000000000000'], q.home);
    expect(unknown.code).toBe(3);
  });

  it('--idle-timeout: a worker with nothing to run leaves by itself, exit 0', async () => {
    const worker = startWorker(q.home, ['--idle-timeout', '1']);
    await enqueue(q.svc, { id: 'only', command: `sleep 0.5; echo only >> '${q.marker}'` });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(markerLines(q.marker)).toEqual(['only']);
    expect(worker.output()).toMatch(/idle for 1 s/);
  });

  it('a worker pointed at the service with a wrong token stops at once with exit 6', async () => {
    const worker = startWorker(q.home, [], { QUEUECTL_URL: q.svc.url, QUEUECTL_TOKEN: 'not-the-token-at-all' });
    expect((await worker.exited).code).toBe(6);
    expect(worker.output()).toMatch(/not authorised/);
  });

  it('a second signal kills the running command at once and its job is retried', async () => {
    const worker = startWorker(q.home);
    await enqueue(q.svc, { id: 'long', command: `echo $$ > '${q.home}/pid'; sleep 60`, max_retries: 1 });
    const pid = await pidFrom(join(q.home, 'pid'));
    worker.signalGroup('SIGTERM');
    await waitFor(() => /stopping \(got SIGTERM\)/.test(worker.output()), 5000, 'the worker to start draining');
    worker.signalGroup('SIGTERM');
    const exit = await worker.exited;
    expect(exit.code).toBe(1);
    await waitFor(() => !running(pid), 5000, 'the command to be killed');
    const j = await job(q.svc, 'long');
    expect(j.state).toBe('failed');
    expect(j.last_error).toBe('interrupted: worker stopped');
    expect(j.next_run_at).not.toBeNull();
  });
});
