/**
 * `node dist/bench/latency-parts.js [--db sqlite|postgres] [--samples 50]`: where enqueue → the
 * command starts goes. A fresh service and one worker (`--count 1`), both with
 * bench/latency-parts-preload.ts, which stamps each step on the wall clock; one job at a time,
 * each after a random 100–300 ms pause (an idle service, as in the latency benchmark), its command
 * `date +%s%N > file`. Prints the median of each step, their sum against the measured total, and
 * the floor below it: Node's spawn to `date` running, in a fresh process (bench/start-floor.ts),
 * as bench/run.ts measures it. On PostgreSQL the service has a schema of its own on the server of
 * `--db-url` (default: the benchmarks' loopback server), dropped afterwards.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, benchEnv, benchOption, median, startService, waitUntil } from './bench-support';
import { DEFAULT_POSTGRES_URL, freshSchema } from './bench-postgres';
import { KeepAliveClient } from './keep-alive-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

/**
 * The stamps in the order they happen; a step runs from one stamp present in a sample to the next.
 * `sent` and `started` are this process's, the others the preload's (SQLite has no BEGIN on the
 * path: its transaction was opened ahead; PostgreSQL hands a lone job to a waiting worker by one
 * statement, `alone`, where the unit's four round trips were).
 */
const STAMPS = ['sent', 'arrived', 'aloneSent', 'aloneBack', 'beginSent', 'beginBack', 'insertSent', 'insertBack', 'claimSent', 'claimBack', 'commitSent', 'commitBack', 'polled', 'received', 'spawnCalled', 'spawnReturned', 'started'];
const STATEMENTS: Record<string, string> = { alone: 'the statement', begin: 'BEGIN with the queue settings read', insert: 'INSERT', claim: 'the handoff’s claim', commit: 'COMMIT' };

function stepName(from: string, to: string, dialect: string): string {
  const trip = dialect === 'sqlite' ? 'a trip to SQLite’s thread' : 'a round trip';
  if (to === 'arrived') return 'request to the service (client, loopback, HTTP parsing)';
  if (from === 'arrived') return `Express and Nest to the first statement (guard, body, validation, controller)`;
  if (to.endsWith('Sent')) return `to ${STATEMENTS[to.slice(0, -4)]}`;
  if (to === 'aloneBack') return 'the job inserted claimed, its run opened, the notification: one statement in autocommit (WAL flush; a round trip)';
  if (to === 'commitBack') return dialect === 'sqlite' ? 'COMMIT (WAL frames written, fsync; a trip)' : 'COMMIT with the notifications (WAL flush; a round trip)';
  if (to.endsWith('Back')) return `${STATEMENTS[to.slice(0, -4)]} (${trip})`;
  return {
    polled: 'the long-poll answered (Nest, JSON, res.end)',
    received: 'to the worker (loopback, its process woken)',
    spawnCalled: 'worker: answer parsed, job started, spawn() called',
    spawnReturned: 'spawn() (the worker forks; back once the child has exec’d)',
    started: 'exec of /bin/sh, its fork and exec of date',
  }[to]!;
}

async function signalled(child: ChildProcess, out: string): Promise<Array<Record<string, number>>> {
  rmSync(out, { force: true });
  child.kill('SIGUSR2');
  await waitUntil(() => existsSync(out), 10_000, 10, 'the stamps');
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, number>);
}

async function main(): Promise<void> {
  const samples = Number(benchOption('samples', '50'));
  const dialect = benchOption('db', 'sqlite');
  if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error(`--db takes sqlite or postgres (got "${dialect}")`);
  const schema = dialect === 'postgres' ? freshSchema(benchOption('db-url', DEFAULT_POSTGRES_URL)) : undefined;
  const preload = join(__dirname, 'latency-parts-preload.js');
  const svcOut = join(tmpdir(), `queuectl-parts-${process.pid}`);
  const svc = await startService(schema, undefined, { args: ['-r', preload], env: { QUEUECTL_PARTS_ROLE: 'service', QUEUECTL_PARTS_OUT: svcOut } }).catch(async (e: unknown) => {
    await schema?.drop();
    throw e;
  });
  const workerOut = join(svc.home, 'parts-worker');
  const marks = join(svc.home, 'marks');
  mkdirSync(marks);
  const worker = spawn(process.execPath, ['-r', preload, CLI, 'worker', 'start', '--count', '1'], {
    // On PostgreSQL a worker is pointed at its service by URL, as a deployed worker is.
    env: { ...benchEnv(svc.home), ...(schema ? { QUEUECTL_URL: svc.url, QUEUECTL_TOKEN: schema.token } : {}), QUEUECTL_PARTS_ROLE: 'worker', QUEUECTL_PARTS_OUT: workerOut },
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
      await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').trim() !== '', 10_000, 2, `job ${i}'s command`);
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
    console.log(`enqueue → start on ${dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, ${samples} jobs one at a time, medians in ms:`);
    // A stamp most samples lack is not on this dialect's path; one a few lack is reported.
    const count = (key: string) => stamps.filter((s) => Number.isFinite(s[key])).length;
    const present = STAMPS.filter((key) => count(key) > samples / 2);
    for (let i = 1; i < present.length; i++) {
      const [from, to] = [present[i - 1], present[i]];
      const m = median(stamps.filter((s) => Number.isFinite(s[from]) && Number.isFinite(s[to])).map((s) => s[to] - s[from]));
      sum += m;
      const short = samples - Math.min(count(from), count(to));
      console.log(`${m.toFixed(2).padStart(7)}  ${stepName(from, to, dialect)}${short > 0 ? ` (${short} samples without it)` : ''}`);
    }
    const total = median(stamps.map((s) => s.started - s.sent));
    console.log(`${sum.toFixed(2).padStart(7)}  sum of the medians\n${total.toFixed(2).padStart(7)}  enqueue → start (median)`);
    console.log(`${floor.median.toFixed(2).padStart(7)}  floor: spawn() → date running, fresh process\n${(total - floor.median).toFixed(2).padStart(7)}  above the floor`);
  } finally {
    client.close();
    worker.kill('SIGTERM');
    await sleep(500);
    await svc.stop();
    await schema?.drop();
    rmSync(svcOut, { force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
