/**
 * `node dist/bench/latency-parts.js [--samples 50]`: where enqueue → the command starts goes, on
 * SQLite. A fresh service and one worker (`--count 1`), both with bench/latency-parts-preload.ts,
 * which stamps each step on the wall clock; one job at a time, each after a random 100–300 ms
 * pause (an idle service, as in the latency benchmark), its command `date +%s%N > file`. Prints
 * the median of each part, their sum against the measured total, and the floor below it: Node's
 * spawn to `date` running, in a fresh process (bench/start-floor.ts), as bench/run.ts measures it.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, benchEnv, median, startService } from './bench-support';
import { KeepAliveClient } from './keep-alive-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

/** The parts in order, each from one stamp to the next; `sent` and `started` are this process's. */
const PARTS: Array<[string, string, string]> = [
  ['sent', 'arrived', 'request to the service (client, loopback, HTTP parsing)'],
  ['arrived', 'insertSent', 'Express and Nest to the INSERT (guard, body, validation, controller)'],
  ['insertSent', 'insertBack', 'INSERT (a trip to SQLite’s thread)'],
  ['insertBack', 'claimSent', 'to the handoff’s claim'],
  ['claimSent', 'claimBack', 'handoff claim UPDATE (a trip)'],
  ['claimBack', 'commitSent', 'to COMMIT'],
  ['commitSent', 'commitBack', 'COMMIT (WAL frames written, fsync)'],
  ['commitBack', 'polled', 'the long-poll answered (Nest, JSON, res.end)'],
  ['polled', 'received', 'to the worker (loopback)'],
  ['received', 'spawnCalled', 'worker: answer parsed, job started, spawn() called'],
  ['spawnCalled', 'spawnReturned', 'spawn() (the worker forks)'],
  ['spawnReturned', 'started', 'exec of /bin/sh, its fork and exec of date'],
];

async function signalled(child: ChildProcess, out: string): Promise<Array<Record<string, number>>> {
  rmSync(out, { force: true });
  child.kill('SIGUSR2');
  while (!existsSync(out)) await sleep(10);
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, number>);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const samples = argv.includes('--samples') ? Number(argv[argv.indexOf('--samples') + 1]) : 50;
  const preload = join(__dirname, 'latency-parts-preload.js');
  const svcOut = join(tmpdir(), `queuectl-parts-${process.pid}`);
  const svc = await startService(undefined, undefined, { args: ['-r', preload], env: { QUEUECTL_PARTS_ROLE: 'service', QUEUECTL_PARTS_OUT: svcOut } });
  const workerOut = join(svc.home, 'parts-worker');
  const marks = join(svc.home, 'marks');
  mkdirSync(marks);
  const worker = spawn(process.execPath, ['-r', preload, CLI, 'worker', 'start', '--count', '1'], {
    env: { ...benchEnv(svc.home), QUEUECTL_PARTS_ROLE: 'worker', QUEUECTL_PARTS_OUT: workerOut },
    stdio: 'ignore',
  });
  // One kept-alive connection that takes little of the machine's CPU, as the peer harness's client.
  const { hostname, port } = new URL(svc.url);
  const client = new KeepAliveClient(hostname, Number(port), svc.token);
  try {
    const run = async (i: number): Promise<{ sent: number; started: number }> => {
      const file = join(marks, String(i));
      const sent = now();
      const answer = await client.post('/api/jobs', Buffer.from(JSON.stringify({ command: `date +%s%N > ${file}` })));
      if (answer.status !== 201) throw new Error(`enqueue: HTTP ${answer.status} ${answer.body}`);
      while (!existsSync(file) || readFileSync(file, 'utf8').trim() === '') await sleep(2);
      return { sent, started: Number(readFileSync(file, 'utf8')) / 1e6 };
    };
    // Warm-up, which also waits for the worker to register and long-poll.
    for (let i = 0; i < 3; i++) await run(-1 - i);
    await sleep(300);
    await signalled(svc.process, svcOut);
    await signalled(worker, workerOut);
    const ends: Array<{ sent: number; started: number }> = [];
    for (let i = 0; i < samples; i++) {
      await sleep(100 + Math.random() * 200);
      ends.push(await run(i));
    }
    await sleep(300);
    const service = await signalled(svc.process, svcOut);
    const worked = await signalled(worker, workerOut);
    if (service.length !== samples || worked.length !== samples) throw new Error(`stamps for ${service.length} enqueues and ${worked.length} claim answers, not ${samples}`);
    const stamps: Array<Record<string, number>> = ends.map((e, i) => ({ ...e, ...service[i], ...worked[i] }));
    const floor = JSON.parse(execFileSync(process.execPath, [join(__dirname, 'start-floor.js'), String(samples)], { encoding: 'utf8' })) as { median: number };
    let sum = 0;
    console.log(`enqueue → start on SQLite, ${samples} jobs one at a time, medians in ms:`);
    for (const [from, to, what] of PARTS) {
      const values = stamps.map((s) => s[to] - s[from]).filter((v) => Number.isFinite(v));
      if (values.length < samples) throw new Error(`${to}: stamped for ${values.length} of ${samples}`);
      const m = median(values);
      sum += m;
      console.log(`${m.toFixed(2).padStart(7)}  ${what}`);
    }
    const total = median(stamps.map((s) => s.started - s.sent));
    console.log(`${sum.toFixed(2).padStart(7)}  sum of the medians\n${total.toFixed(2).padStart(7)}  enqueue → start (median)`);
    console.log(`${floor.median.toFixed(2).padStart(7)}  floor: spawn() → date running, fresh process\n${(total - floor.median).toFixed(2).padStart(7)}  above the floor`);
  } finally {
    client.close();
    worker.kill('SIGTERM');
    await sleep(500);
    await svc.stop();
    rmSync(svcOut, { force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
