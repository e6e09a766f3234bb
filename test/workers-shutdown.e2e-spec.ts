import { join } from 'node:path';
import { RunningService, alive, api, markerLines, removeHome, runCli, startService, tempHome, waitFor } from './support/harness';
import { enqueue, job, killAllWorkers, pidFrom, startWorker, waitForState, waitForWorkers } from './support/workers';

/** Stopping workers: Ctrl+C drains, `worker stop` drains every worker, a second signal stops at once. */
describe('stopping workers', () => {
  let home: string;
  let svc: RunningService;
  let marker: string;

  beforeEach(async () => {
    home = tempHome('queuectl-stop-');
    marker = join(home, 'marker');
    svc = await startService(home);
  });

  afterEach(async () => {
    await killAllWorkers();
    await svc.stop();
    removeHome(home);
  });

  it('SIGINT to the worker process group during `sleep 2` lets the job finish, leaves the next pending, exits 0', async () => {
    const worker = startWorker(home);
    await enqueue(svc, { id: 'running', command: `echo $$ > '${home}/pid'; sleep 2; echo running >> '${marker}'` });
    const pid = await pidFrom(join(home, 'pid'));
    await enqueue(svc, { id: 'next', command: `echo next >> '${marker}'` });
    // Ctrl+C at a terminal: SIGINT to the whole foreground process group.
    worker.signalGroup('SIGINT');
    const exit = await worker.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(alive(pid)).toBe(false);
    expect(markerLines(marker)).toEqual(['running']);
    expect((await job(svc, 'running')).state).toBe('completed');
    const next = await job(svc, 'next');
    expect(next.state).toBe('pending');
    expect(next.attempts).toBe(0);
    expect((await api(svc, 'GET', '/api/status')).body.workers.active).toBe(0);
  });

  it('with a free slot waiting for work, a job enqueued during the drain is not started', async () => {
    const worker = startWorker(home, ['--count', '2']);
    await enqueue(svc, { id: 'running', command: `echo $$ > '${home}/pid'; sleep 1.5; echo running >> '${marker}'` });
    await pidFrom(join(home, 'pid'));
    worker.signalGroup('SIGINT');
    // The second slot's claim is waiting in the service when the stop begins: whichever comes
    // first, the claim answered `stop` or the job claimed and handed back, it must not run.
    await enqueue(svc, { id: 'next', command: `echo next >> '${marker}'` });
    expect((await worker.exited).code).toBe(0);
    expect(markerLines(marker)).toEqual(['running']);
    const next = await job(svc, 'next');
    expect(next.state).toBe('pending');
    expect(next.attempts).toBe(0);
  });

  it('`worker stop` from another process drains every worker of the queue; with none running it is a no-op', async () => {
    const a = startWorker(home);
    const b = startWorker(home);
    await waitForWorkers(svc, 2);
    await enqueue(svc, { id: 'one', command: `sleep 1.5; echo one >> '${marker}'` });
    await enqueue(svc, { id: 'two', command: `sleep 1.5; echo two >> '${marker}'` });
    await waitFor(async () => (await api(svc, 'GET', '/api/status')).body.counts.processing === 2, 10_000, 'both jobs to run');
    await enqueue(svc, { id: 'three', command: `echo three >> '${marker}'` });

    const stop = await runCli(['worker', 'stop'], home);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/stopped 2 workers/);
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(await b.exited).toEqual({ code: 0, signal: null });
    expect(markerLines(marker).sort()).toEqual(['one', 'two']);
    expect((await job(svc, 'three')).state).toBe('pending');

    const again = await runCli(['worker', 'stop'], home);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/no workers running/);
    const list = await runCli(['worker', 'list', '--json'], home);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('`worker stop --id` stops only that worker', async () => {
    const a = startWorker(home);
    startWorker(home);
    await waitForWorkers(svc, 2);
    const workers = (await api(svc, 'GET', '/api/workers')).body.workers;
    const target = workers.find((w: { pid: number }) => w.pid === a.pid);
    const stop = await runCli(['worker', 'stop', '--id', target.id, '--json'], home);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toEqual({ stopping: 1, ids: [target.id] });
    expect((await a.exited).code).toBe(0);
    const left = (await api(svc, 'GET', '/api/workers')).body.workers;
    expect(left).toHaveLength(1);
    expect(left[0].id).not.toBe(target.id);
    const unknown = await runCli(['worker', 'stop', '--id', 'w-000000000000'], home);
    expect(unknown.code).toBe(3);
  });

  it('a second signal kills the running command at once and its job is retried', async () => {
    const worker = startWorker(home);
    await enqueue(svc, { id: 'long', command: `echo $$ > '${home}/pid'; sleep 60`, max_retries: 1 });
    const pid = await pidFrom(join(home, 'pid'));
    worker.signalGroup('SIGTERM');
    await waitFor(() => /stopping \(got SIGTERM\)/.test(worker.output()), 5000, 'the worker to start draining');
    worker.signalGroup('SIGTERM');
    const exit = await worker.exited;
    expect(exit.code).toBe(1);
    await waitFor(() => !alive(pid), 5000, 'the command to be killed');
    const j = await job(svc, 'long');
    expect(j.state).toBe('failed');
    expect(j.last_error).toBe('interrupted: worker stopped');
    expect(j.next_run_at).not.toBeNull();
  });
});
