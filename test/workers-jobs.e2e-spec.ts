import { hostname } from 'node:os';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, RunningService, api, cleanEnv, clientEnv, markerLines, removeHome, runCli, tempHome, waitFor } from './support/harness';
import { enqueue, job, pidFrom, setConfig, startServeCommand, startWorker, waitForState, waitForWorkers, useQueue, running } from './support/workers';

/** What a running job can go through: timeouts, cancel, huge output; and the commands that show it: logs, wait. */
describe('running jobs', () => {
  const q = useQueue('queuectl-jobs-');

  it('a timeout kills the whole process group, leaves no orphan, and is the reason kept', async () => {
    startWorker(q.home);
    await enqueue(q.svc, { id: 'slow', command: `sleep 100 & echo $! > '${q.home}/bg'; echo $$ > '${q.home}/sh'; sleep 100`, timeout_seconds: 1, max_retries: 0 });
    const bg = await pidFrom(join(q.home, 'bg'));
    const sh = await pidFrom(join(q.home, 'sh'));
    const dead = await waitForState(q.svc, 'slow', 'dead', 15_000);
    expect(dead.last_error).toBe('timeout');
    expect(dead.runs[0].error).toBe('timeout');
    await waitFor(() => !running(bg) && !running(sh), 10_000, 'every process of the job to be gone');
  });

  it('the config job-timeout applies to jobs without their own', async () => {
    await setConfig(q.svc, 'job-timeout', 1);
    startWorker(q.home);
    await enqueue(q.svc, { id: 'capped', command: 'sleep 30', max_retries: 0 });
    expect((await waitForState(q.svc, 'capped', 'dead', 15_000)).last_error).toBe('timeout');
  });

  it('cancel of a running job kills its command and buries the job as cancelled', async () => {
    await setConfig(q.svc, 'heartbeat-interval', 0.5);
    startWorker(q.home);
    await enqueue(q.svc, { id: 'doomed', command: `echo $$ > '${q.home}/pid'; sleep 60; echo finished >> '${q.marker}'` });
    const pid = await pidFrom(join(q.home, 'pid'));
    const cancel = await runCli(['cancel', 'doomed'], q.home);
    expect(cancel.code).toBe(0);
    const dead = await waitForState(q.svc, 'doomed', 'dead', 10_000);
    expect(dead.last_error).toBe('cancelled');
    expect(running(pid)).toBe(false);
    expect(markerLines(q.marker)).toEqual([]);
  });

  it('10 MB of output does not hang the worker; what is kept is bounded and marked as cut', async () => {
    const worker = startWorker(q.home);
    await waitForWorkers(q.svc, 1);
    await enqueue(q.svc, { id: 'chatty', command: `head -c 10485760 /dev/zero | tr '\\0' x; echo tail-line` });
    const done = await waitForState(q.svc, 'chatty', 'completed', 30_000);
    expect(done.runs[0].output_bytes).toBe(1024 * 1024);
    expect(done.runs[0].output_truncated).toBe(true);
    const mark = '\n[queuectl: output truncated after 1048576 bytes]\n';
    const logs = await runCli(['logs', 'chatty'], q.home);
    // (Compared piecewise: a failure message must not print a megabyte of x.)
    expect(logs.stdout.endsWith(mark)).toBe(true);
    expect(Buffer.byteLength(logs.stdout)).toBe(1024 * 1024 + mark.length);
    expect(/^x+$/.test(logs.stdout.slice(0, -mark.length))).toBe(true);
    // The worker is free for the next job at once.
    await enqueue(q.svc, { id: 'after', command: `echo after >> '${q.marker}'` });
    await waitForState(q.svc, 'after', 'completed', 10_000);
    expect(worker.process.exitCode).toBeNull();
  });

  it("a worker's memory stays bounded however much a command writes", async () => {
    const worker = startWorker(q.home);
    await waitForWorkers(q.svc, 1);
    const peak = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${worker.pid}/status`, 'utf8'))![1]) * 1024;
    const before = peak();
    await enqueue(q.svc, { id: 'flood', command: `head -c 209715200 /dev/zero | tr '\\0' x` });
    await waitForState(q.svc, 'flood', 'completed', 60_000);
    // Keeping the output would need 200 MB and more; reading and dropping it needs a few buffers.
    expect(peak() - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('logs: the newest run, a tail, an earlier attempt, and --follow while it runs', async () => {
    startWorker(q.home);
    await enqueue(q.svc, { id: 'twice', command: 'echo "run $QUEUECTL_JOB_RUN"; echo line-2; echo line-3; [ "$QUEUECTL_JOB_RUN" = 2 ]', backoff_base: 1 });
    await waitForState(q.svc, 'twice', 'completed', 15_000);
    expect((await runCli(['logs', 'twice'], q.home)).stdout).toBe('run 2\nline-2\nline-3\n');
    expect((await runCli(['logs', 'twice', '--tail', '2'], q.home)).stdout).toBe('line-2\nline-3\n');
    expect((await runCli(['logs', 'twice', '--attempt', '1'], q.home)).stdout).toBe('run 1\nline-2\nline-3\n');
    const none = await runCli(['logs', 'twice', '--attempt', '3'], q.home);
    expect(none.code).toBe(2);
    expect((await runCli(['logs', 'nope'], q.home)).code).toBe(3);

    // Follow a job that has not started yet: it waits, then prints lines as they come, then ends.
    await enqueue(q.svc, { id: 'ticker', command: 'for i in 1 2 3 4; do echo tick-$i; sleep 0.4; done', run_at: new Date(Date.now() + 1000).toISOString() });
    const follower = spawn(process.execPath, [CLI, 'logs', 'ticker', '--follow'], { env: cleanEnv({ QUEUECTL_HOME: q.home, ...clientEnv() }) });
    let out = '';
    const seenAt: number[] = [];
    follower.stdout.on('data', (c) => {
      out += c;
      seenAt.push(Date.now());
    });
    let err = '';
    follower.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((r) => follower.once('exit', r));
    expect(code).toBe(0);
    expect(out).toBe('tick-1\ntick-2\ntick-3\ntick-4\n');
    // It arrived in pieces while the job ran, not all at the end.
    expect(seenAt.length).toBeGreaterThan(1);
    // Runs are numbered across the queue: the ticker's only run is the third of this queue.
    const [{ run }] = (await job(q.svc, 'ticker')).runs;
    expect(run).toBe(3);
    expect(err).toContain(`run ${run} ended: completed`);
  });

  it('wait blocks until nothing is pending, processing or failed', async () => {
    for (let i = 0; i < 5; i++) await enqueue(q.svc, { id: `w${i}`, command: `sleep 0.2; echo w${i} >> '${q.marker}'` });
    await enqueue(q.svc, { id: 'wfail', command: 'exit 1', max_retries: 1, backoff_base: 1 });
    const timedOut = await runCli(['wait', '--timeout', '1'], q.home);
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toMatch(/no worker is running/);
    startWorker(q.home, ['--count', '2']);
    const waited = await runCli(['wait', '--json'], q.home);
    expect(waited.code).toBe(0);
    const status = JSON.parse(waited.stdout);
    expect(status.counts).toMatchObject({ pending: 0, processing: 0, failed: 0, completed: 5, dead: 1 });
    expect(markerLines(q.marker)).toHaveLength(5);
    // Not a terminal: no progress bar among the messages.
    expect(waited.stderr).not.toMatch(/waiting \[/);
  });

  it('wait draws a progress bar on a terminal', async () => {
    for (let i = 0; i < 4; i++) await enqueue(q.svc, { id: `t${i}`, command: 'sleep 0.5' });
    startWorker(q.home, ['--count', '2']);
    // util-linux `script` gives the CLI a pseudo-terminal, as a person's shell would.
    const child = spawn('script', ['-qec', `'${process.execPath}' '${CLI}' wait`, '/dev/null'], {
      env: cleanEnv({ QUEUECTL_HOME: q.home, ...clientEnv() }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (c) => (screen += c));
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(screen).toMatch(/waiting \[[^\]]*\] \d+\/4 done/);
    expect((await api(q.svc, 'GET', '/api/status')).body.counts.completed).toBe(4);
  });
});

describe('workers started by the service', () => {
  let home: string;
  let svc: RunningService;

  beforeEach(() => {
    home = tempHome('queuectl-supervised-');
  });

  afterEach(async () => {
    await svc?.stop();
    removeHome(home);
  });

  it('serve --workers N runs N workers; they take jobs; stop asks them to leave; stopping the service stops them', async () => {
    svc = await startServeCommand(home, ['--workers', '2']);
    const marker = join(home, 'marker');
    await waitForWorkers(svc, 2);
    const workers = (await api(svc, 'GET', '/api/workers')).body.workers as Array<{ pid: number }>;
    expect(workers).toHaveLength(2);
    for (let i = 0; i < 6; i++) await enqueue(svc, { id: `s${i}`, command: `echo s${i} >> '${marker}'` });
    await waitFor(() => markerLines(marker).length === 6, 20_000, 'the supervised workers to run the jobs');

    const stop = await runCli(['worker', 'stop'], home);
    expect(stop.code).toBe(0);
    await waitFor(() => workers.every((w) => !running(w.pid)), 10_000, 'the supervised workers to exit');

    const started = (await api(svc, 'POST', '/api/workers', { count: 1 })).body;
    expect(started).toMatchObject({ started: 1, replica: `${hostname()}:${svc.pid}` });
    await waitForWorkers(svc, 1);
    const [child] = (await api(svc, 'GET', '/api/workers')).body.workers as Array<{ pid: number }>;
    await enqueue(svc, { id: 'last', command: `echo begun >> '${marker}'; sleep 1; echo last >> '${marker}'` });
    // Its command has begun (a job is processing from its claim on, before the worker starts it;
    // a claimed job not yet started is handed back when the service stops, not run).
    await waitFor(() => markerLines(marker).includes('begun'), 10_000, 'the last job to start');
    // Stopping the service lets its worker finish the running job first.
    await svc.stop();
    await waitFor(() => !running(child.pid), 15_000, 'the worker to leave with its service');
    expect(markerLines(marker)).toContain('last');
  });
});
