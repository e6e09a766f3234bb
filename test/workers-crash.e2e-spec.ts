import { join } from 'node:path';
import { RunningService, alive, api, markerLines, removeHome, startService, tempHome, waitFor } from './support/harness';
import { enqueue, job, killAllWorkers, pidFrom, setConfig, startWorker, waitForState, waitForWorkers } from './support/workers';

/**
 * Crashes: a worker SIGKILLed with its whole process group, the service SIGKILLed mid-job. The
 * command of a job records its pids, so the test can tell whether anything ran on.
 */
describe('crashes', () => {
  let home: string;
  let svc: RunningService;
  let marker: string;

  beforeEach(async () => {
    home = tempHome('queuectl-crash-');
    marker = join(home, 'marker');
    svc = await startService(home);
  });

  afterEach(async () => {
    await killAllWorkers();
    await svc.stop();
    removeHome(home);
  });

  /** First run: records its pids and hangs; any later run: appends to the marker and succeeds. */
  function hangOnceCommand(id: string): string {
    const flag = join(home, `${id}.ran`);
    return `if [ -e '${flag}' ]; then echo ${id} >> '${marker}'; else touch '${flag}'; sleep 60 & echo $! > '${home}/${id}.child'; setsid sleep 61 & echo $! > '${home}/${id}.escaped'; echo $$ > '${home}/${id}.pid'; wait; fi`;
  }

  it('SIGKILL of the worker process group: the command dies with it, the job is recovered and completes', async () => {
    await setConfig(svc, 'heartbeat-interval', 0.5);
    await setConfig(svc, 'lease-timeout', 2);
    const first = startWorker(home);
    await enqueue(svc, { id: 'victim', command: hangOnceCommand('victim') });
    const shell = await pidFrom(join(home, 'victim.pid'));
    const child = await pidFrom(join(home, 'victim.child'));
    // A child that left the command's process group (a session of its own) goes too.
    const escaped = await pidFrom(join(home, 'victim.escaped'));
    expect((await job(svc, 'victim')).state).toBe('processing');

    first.signalGroup('SIGKILL');
    await first.exited;
    await waitFor(() => !alive(shell) && !alive(child) && !alive(escaped), 10_000, 'the command and its children to be killed');

    // The live-worker count drops once the dead worker's heartbeat is older than a lease.
    await waitFor(async () => (await api(svc, 'GET', '/api/status')).body.workers.active === 0, 10_000, 'no live worker');
    const recovered = await waitFor(async () => {
      const j = await job(svc, 'victim');
      return j.state === 'failed' ? j : undefined;
    }, 10_000, 'the lease reaper to recover the job');
    expect(recovered.last_error).toBe('worker lost');
    expect(recovered.attempts).toBe(1);

    startWorker(home);
    const done = await waitForState(svc, 'victim', 'completed', 15_000);
    expect(done.attempts).toBe(2);
    expect(done.runs.map((r: { error: string | null }) => r.error)).toEqual(['worker lost', null]);
    expect(markerLines(marker)).toEqual(['victim']);
    expect((await api(svc, 'GET', '/api/status')).body.counts.processing).toBe(0);
  });

  it('at the default settings a SIGKILLed worker’s job runs again in under 60 s', async () => {
    const config = (await api(svc, 'GET', '/api/config')).body.config as Array<{ key: string; value: number; default: number }>;
    for (const key of ['lease-timeout', 'heartbeat-interval', 'backoff-base']) {
      const entry = config.find((c) => c.key === key)!;
      expect(entry.value).toBe(entry.default);
    }
    const first = startWorker(home);
    await enqueue(svc, { id: 'slow-recovery', command: hangOnceCommand('slow-recovery') });
    await pidFrom(join(home, 'slow-recovery.pid'));
    startWorker(home);
    await waitForWorkers(svc, 2);
    const killedAt = Date.now();
    first.signalGroup('SIGKILL');
    const done = await waitForState(svc, 'slow-recovery', 'completed', 70_000);
    const rerun = done.runs[1];
    expect(done.runs[0].error).toBe('worker lost');
    expect(Date.parse(rerun.started_at) - killedAt).toBeLessThan(60_000);
  }, 90_000);

  it('SIGKILL of the service mid-job: the worker keeps its job and reports it once, attempts 1', async () => {
    const worker = startWorker(home);
    await enqueue(svc, { id: 'survivor', command: `echo $$ > '${home}/pid'; sleep 2; echo survivor >> '${marker}'` });
    await pidFrom(join(home, 'pid'));
    const oldUrl = svc.url;
    await svc.kill('SIGKILL');
    // A new service on the same home, on another free port: the worker finds it in service.json.
    svc = await startService(home);
    expect(svc.url).not.toBe(oldUrl);
    const done = await waitForState(svc, 'survivor', 'completed', 30_000);
    expect(done.attempts).toBe(1);
    expect(done.runs).toHaveLength(1);
    expect(done.runs[0].error).toBeNull();
    expect(markerLines(marker)).toEqual(['survivor']);
    expect(worker.output()).toMatch(/reconnected/);
    // And the worker goes on with new work.
    await enqueue(svc, { id: 'after', command: `echo after >> '${marker}'` });
    await waitForState(svc, 'after', 'completed', 15_000);
  });

  it('a job whose command keeps killing its worker ends dead: the lost attempts count', async () => {
    await setConfig(svc, 'heartbeat-interval', 0.5);
    await setConfig(svc, 'lease-timeout', 1);
    await setConfig(svc, 'backoff-base', 1);
    const kill = `kill -KILL -$(ps -o pgid= -p $PPID | tr -d ' ')`;
    await enqueue(svc, { id: 'poison', command: `echo poison >> '${marker}'; ${kill}; sleep 5`, max_retries: 1 });
    for (let run = 1; run <= 2; run++) {
      const w = startWorker(home);
      await w.exited;
      expect(markerLines(marker)).toHaveLength(run);
    }
    const dead = await waitForState(svc, 'poison', 'dead', 15_000);
    expect(dead.attempts).toBe(2);
    expect(dead.last_error).toBe('worker lost');
  });
});
