import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TcpProxy, startTcpProxy } from '../chaos/tcp-proxy';
import { waitFor } from './support/harness';
import { enqueue, setConfig, startWorker, useQueue, waitForState } from './support/workers';

const LEASE_MS = 3000;

/**
 * A worker that cannot renew its lease — cut off behind a frozen connection, stopped with
 * SIGSTOP, or suspended with Ctrl+Z — must not let its command run on once another worker may
 * have the job. Overlap is judged from what the commands themselves write: each run appends
 * `<run> start|tick|end <ns>` lines, its run being QUEUECTL_JOB_RUN.
 */
describe('a worker that cannot renew its lease', () => {
  const q = useQueue('queuectl-fault-workers-');
  let log: string;

  beforeEach(async () => {
    log = join(q.home, 'runs.log');
    await setConfig(q.svc, 'heartbeat-interval', 0.5);
    await setConfig(q.svc, 'lease-timeout', LEASE_MS / 1000);
    await setConfig(q.svc, 'backoff-base', 1);
  });

  /** The first attempt ticks for 60 s unless stopped; a later one ticks half a second and ends. */
  function ticking(id: string) {
    const line = (what: string) => `echo "$QUEUECTL_JOB_RUN ${what} $(date +%s%N)" >> '${log}'`;
    const command = [
      line('start'),
      `n=$([ "$QUEUECTL_JOB_ATTEMPT" = 1 ] && echo 600 || echo 5)`,
      `i=0; while [ $i -lt $n ]; do ${line('tick')}; sleep 0.1; i=$((i+1)); done`,
      line('end'),
    ].join('; ');
    return enqueue(q.svc, { id, command, max_retries: 2 });
  }

  /** Each run's first and last line (ms), and whether it ended by itself, in the order they started. */
  function runs(): Array<{ run: string; start: number; last: number; ended: boolean }> {
    const byRun = new Map<string, { run: string; start: number; last: number; ended: boolean }>();
    for (const text of readFileSync(log, 'utf8').trim().split('\n')) {
      const [run, what, ns] = text.split(' ');
      const ms = Number(BigInt(ns) / 1_000_000n);
      const r = byRun.get(run) ?? { run, start: ms, last: ms, ended: false };
      r.last = Math.max(r.last, ms);
      r.ended ||= what === 'end';
      byRun.set(run, r);
    }
    return [...byRun.values()].sort((a, b) => a.start - b.start);
  }

  /** Enqueues a ticking job, starts a worker (with `env`) and returns it once the run has gone on a moment. */
  async function firstRunOn(id: string, env: Record<string, string> = {}) {
    await ticking(id);
    const worker = startWorker(q.home, [], env);
    await waitFor(() => runs().length > 0, 20_000, 'the first run to start');
    // Long enough for a heartbeat to be answered after the start.
    await sleep(700);
    return worker;
  }

  function expectNoOverlap(cutAt: number) {
    const [first, second, ...rest] = runs();
    expect(rest).toEqual([]);
    expect(second.run).not.toBe(first.run);
    expect(first.ended).toBe(false);
    expect(second.ended).toBe(true);
    // The first command was gone before the second started, and before its lease could end.
    expect(first.last).toBeLessThan(second.start);
    expect(first.last).toBeLessThanOrEqual(cutAt + LEASE_MS);
  }

  it('cut off behind a frozen connection: its command is killed before the lease ends, and never overlaps the next run', async () => {
    let proxy: TcpProxy | undefined;
    try {
      proxy = await startTcpProxy(Number(new URL(q.svc.url).port));
      await firstRunOn('frozen', { QUEUECTL_URL: `http://127.0.0.1:${proxy.port}`, QUEUECTL_TOKEN: q.svc.token });
      const cutAt = Date.now();
      proxy.freeze();
      startWorker(q.home);
      await waitForState(q.svc, 'frozen', 'completed', 40_000);
      expectNoOverlap(cutAt);
    } finally {
      proxy?.thaw();
      await proxy?.close();
    }
  });

  it('stopped with SIGSTOP: the orphan guard kills its command before the lease ends', async () => {
    const a = await firstRunOn('stopped');
    const cutAt = Date.now();
    process.kill(a.pid, 'SIGSTOP');
    try {
      startWorker(q.home);
      await waitForState(q.svc, 'stopped', 'completed', 40_000);
      expectNoOverlap(cutAt);
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }
  });

  it('Ctrl+Z pauses its command with it; at fg after the lease, the command is killed, never continued', async () => {
    const a = await firstRunOn('suspended');
    const cutAt = Date.now();
    a.signalGroup('SIGTSTP');
    startWorker(q.home);
    await waitForState(q.svc, 'suspended', 'completed', 40_000);
    const pausedRun = runs()[0];
    // Paused with the worker: no tick once the stop had reached it.
    expect(pausedRun.last).toBeLessThan(cutAt + 500);
    const continuedAt = Date.now();
    a.signalGroup('SIGCONT');
    await sleep(1500);
    expectNoOverlap(cutAt);
    expect(runs()[0].last).toBeLessThan(continuedAt);
  });
});
