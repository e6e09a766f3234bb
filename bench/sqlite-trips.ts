/**
 * `node dist/bench/sqlite-trips.js [--singles 20] [--batch 40]`: how many trips to SQLite's thread
 * a job costs the service, counted by statement (bench/sqlite-trips-preload.ts). A fresh service
 * and one worker (`--count 1`), then:
 *
 *   singles  jobs enqueued one at a time (`POST /api/jobs`), each waited for before the next: the
 *            enqueue is handed to the worker's waiting claim, then reported
 *   batch    jobs enqueued in one `POST /api/jobs/batch` and run by the one worker
 *
 * The jobs' commands each touch a file; the benchmark waits for the file, then for the job's
 * report by reading the status counts (two reads, listed with the rest: job_counts, workers).
 * Each phase's counts also hold what the service did meanwhile on its own (the reaper's scan,
 * heartbeats, long-polls timing out).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, benchEnv, benchOption, startService, waitUntil } from './bench-support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const singles = Number(benchOption('singles', '20'));
  const batch = Number(benchOption('batch', '40'));
  const out = join(tmpdir(), `queuectl-trips-${process.pid}`);
  const svc = await startService(undefined, undefined, { args: ['-r', join(__dirname, 'sqlite-trips-preload.js')], env: { QUEUECTL_TRIPS_OUT: out } });
  const { url, token, home } = svc;
  let worker: ReturnType<typeof spawn> | undefined;
  try {
    const api = async (method: string, path: string, body?: unknown): Promise<void> => {
      const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status}`);
      await res.arrayBuffer();
    };
    const counted = async () => {
      rmSync(out, { force: true });
      svc.process.kill('SIGUSR2');
      await waitUntil(() => existsSync(out), 10_000, 20, 'the counts');
      return readFileSync(out, 'utf8');
    };
    // Waits for the files the jobs' commands write, then for their reports (status counts).
    const completed = async (n: number) => {
      await waitUntil(() => readdirSync(marks).length >= n, 60_000, 10, `${n} jobs' commands`);
      await waitUntil(
        async () => {
          const res = await fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${token}` } });
          const status = (await res.json()) as { counts: Record<string, number> };
          return (status.counts.completed ?? 0) >= n;
        },
        60_000,
        20,
        `${n} jobs' reports`,
      );
    };
    const marks = join(home, 'marks');
    mkdirSync(marks);
    let made = 0;
    const job = () => ({ command: `touch ${join(marks, String(made++))}` });
    worker = spawn(process.execPath, [CLI, 'worker', 'start', '--count', '1'], { env: benchEnv(home), stdio: 'ignore' });
    await api('POST', '/api/jobs', job());
    await completed(1);
    const perJob = (text: string, jobs: number) =>
      text
        .trim()
        .split('\n')
        .map((line) => {
          const [n, sql] = line.split('\t');
          return `${(Number(n) / jobs).toFixed(2).padStart(6)}  ${sql}`;
        })
        .join('\n');
    await counted();
    for (let i = 0; i < singles; i++) {
      await api('POST', '/api/jobs', job());
      await completed(2 + i);
    }
    const single = await counted();
    await api('POST', '/api/jobs/batch', { jobs: Array.from({ length: batch }, job) });
    await completed(1 + singles + batch);
    const batched = await counted();
    const total = (text: string) => text.trim().split('\n').reduce((sum, line) => sum + Number(line.split('\t')[0]), 0);
    console.log(`${singles} jobs one at a time, each handed to the waiting worker: ${(total(single) / singles).toFixed(2)} trips a job\n${perJob(single, singles)}\n`);
    console.log(`${batch} jobs in one batch, one worker: ${(total(batched) / batch).toFixed(2)} trips a job\n${perJob(batched, batch)}`);
  } finally {
    worker?.kill('SIGTERM');
    await sleep(500);
    await svc.stop();
    rmSync(out, { force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
