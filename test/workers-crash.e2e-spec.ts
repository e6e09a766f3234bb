import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { CLI, api, markerLines, startService, waitFor } from './support/harness';
import { enqueue, job, pidFrom, setConfig, startWorker, waitForState, waitForWorkers, useQueue, running } from './support/workers';

/**
 * Crashes: a worker SIGKILLed with its whole process group, the service SIGKILLed mid-job. The
 * command of a job records its pids, so the test can tell whether anything ran on.
 */
describe('crashes', () => {
  const q = useQueue('queuectl-crash-');

  /** First run: records its pids and hangs; any later run: appends to the marker and succeeds. */
  function hangOnceCommand(id: string): string {
    const flag = join(q.home, `${id}.ran`);
    return `if [ -e '${flag}' ]; then echo ${id} >> '${q.marker}'; else touch '${flag}'; sleep 60 & echo $! > '${q.home}/${id}.child'; setsid sleep 61 & echo $! > '${q.home}/${id}.escaped'; echo $$ > '${q.home}/${id}.pid'; wait; fi`;
  }

  it('SIGKILL of the worker process group: the command dies with it, the job is recovered and completes', async () => {
    await setConfig(q.svc, 'heartbeat-interval', 0.5);
    await setConfig(q.svc, 'lease-timeout', 2);
    const first = startWorker(q.home);
    await enqueue(q.svc, { id: 'victim', command: hangOnceCommand('victim') });
    const shell = await pidFrom(join(q.home, 'victim.pid'));
    const child = await pidFrom(join(q.home, 'victim.child'));
    // A child that left the command's process group (a session of its own) goes too.
    const escaped = await pidFrom(join(q.home, 'victim.escaped'));
    expect((await job(q.svc, 'victim')).state).toBe('processing');

    first.signalGroup('SIGKILL');
    await first.exited;
    await waitFor(() => !running(shell) && !running(child) && !running(escaped), 10_000, 'the command and its children to be killed');

    // The live-worker count drops once the dead worker's heartbeat is older than a lease.
    await waitFor(async () => (await api(q.svc, 'GET', '/api/status')).body.workers.active === 0, 10_000, 'no live worker');
    const recovered = await waitFor(async () => {
      const j = await job(q.svc, 'victim');
      return j.state === 'failed' ? j : undefined;
    }, 10_000, 'the lease reaper to recover the job');
    expect(recovered.last_error).toBe('worker lost');
    expect(recovered.attempts).toBe(1);

    startWorker(q.home);
    const done = await waitForState(q.svc, 'victim', 'completed', 15_000);
    expect(done.attempts).toBe(2);
    expect(done.runs.map((r: { error: string | null }) => r.error)).toEqual(['worker lost', null]);
    expect(markerLines(q.marker)).toEqual(['victim']);
    expect((await api(q.svc, 'GET', '/api/status')).body.counts.processing).toBe(0);
  });

  it('at the default settings a SIGKILLed worker’s job runs again in under 60 s', async () => {
    const config = (await api(q.svc, 'GET', '/api/config')).body.config as Array<{ key: string; value: number; default: number }>;
    for (const key of ['lease-timeout', 'heartbeat-interval', 'backoff-base']) {
      const entry = config.find((c) => c.key === key)!;
      expect(entry.value).toBe(entry.default);
    }
    const first = startWorker(q.home);
    await enqueue(q.svc, { id: 'slow-recovery', command: hangOnceCommand('slow-recovery') });
    await pidFrom(join(q.home, 'slow-recovery.pid'));
    startWorker(q.home);
    await waitForWorkers(q.svc, 2);
    const killedAt = Date.now();
    first.signalGroup('SIGKILL');
    const done = await waitForState(q.svc, 'slow-recovery', 'completed', 70_000);
    const rerun = done.runs[1];
    expect(done.runs[0].error).toBe('worker lost');
    expect(Date.parse(rerun.started_at) - killedAt).toBeLessThan(60_000);
  }, 90_000);

  it('SIGKILL of the service mid-job: the worker keeps its job and reports it once, attempts 1', async () => {
    const worker = startWorker(q.home);
    await enqueue(q.svc, { id: 'survivor', command: `echo $$ > '${q.home}/pid'; sleep 2; echo survivor >> '${q.marker}'` });
    await pidFrom(join(q.home, 'pid'));
    const oldUrl = q.svc.url;
    await q.svc.kill('SIGKILL');
    // A new service on the same home, on another free port: the worker finds it in service.json.
    q.svc = await startService(q.home);
    expect(q.svc.url).not.toBe(oldUrl);
    const done = await waitForState(q.svc, 'survivor', 'completed', 30_000);
    expect(done.attempts).toBe(1);
    expect(done.runs).toHaveLength(1);
    expect(done.runs[0].error).toBeNull();
    expect(markerLines(q.marker)).toEqual(['survivor']);
    // And the worker goes on with new work.
    await enqueue(q.svc, { id: 'after', command: `echo after >> '${q.marker}'` });
    await waitForState(q.svc, 'after', 'completed', 15_000);
    expect(worker.process.exitCode).toBeNull();
  });

  it('a job whose command keeps killing its worker ends dead: the lost attempts count', async () => {
    await setConfig(q.svc, 'heartbeat-interval', 0.5);
    await setConfig(q.svc, 'lease-timeout', 1);
    await setConfig(q.svc, 'backoff-base', 1);
    const kill = `kill -KILL -$(ps -o pgid= -p $PPID | tr -d ' ')`;
    await enqueue(q.svc, { id: 'poison', command: `echo poison >> '${q.marker}'; ${kill}; sleep 5`, max_retries: 1 });
    for (let run = 1; run <= 2; run++) {
      const w = startWorker(q.home);
      await w.exited;
      expect(markerLines(q.marker)).toHaveLength(run);
    }
    const dead = await waitForState(q.svc, 'poison', 'dead', 15_000);
    expect(dead.attempts).toBe(2);
    expect(dead.last_error).toBe('worker lost');
  });
});

describe('a worker process forked by `worker start`', () => {
  it('ignores SIGINT and says so first; if its parent goes before configuring it, it exits at once', async () => {
    // `worker start` forks before it has found the service: the child must not wait 30 s for a configuration that cannot come.
    const child = fork(join(dirname(CLI), 'worker', 'worker-child.js'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve) => child.once('message', () => resolve()));
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    expect(child.exitCode).toBeNull();
    const at = Date.now();
    child.disconnect();
    expect(await exited).toEqual({ code: 1, signal: null });
    expect(Date.now() - at).toBeLessThan(5000);
  });
});
