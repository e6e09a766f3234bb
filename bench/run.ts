/**
 * `npm run bench`: the figures behind BENCHMARKS.md, measured on this machine.
 *
 *   node dist/bench/run.js [--runs 5] [--jobs 2000] [--concurrency 4] [--only spawn,throughput,enqueue,latency]
 *
 * Each run measures the raw spawn rate of `/bin/sh -c true` and the queue's shell-job throughput
 * back to back, so their ratio is taken under the same machine load; the report gives medians.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpuSeconds } from './cpu-seconds';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, Service, benchEnv, call, median, percentile, startService } from './bench-support';
import { KeepAliveClient } from './keep-alive-client';

interface Args {
  runs: number;
  jobs: number;
  concurrency: number;
  only: Set<string>;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
  };
  return {
    runs: Number(get('runs', '5')),
    jobs: Number(get('jobs', '2000')),
    concurrency: Number(get('concurrency', '4')),
    only: new Set(get('only', 'spawn,throughput,enqueue,latency').split(',')),
  };
}

interface SpawnResult {
  rate: number;
  /** CPU a spawn costs: the spawning Node process plus the shell, microseconds. */
  cpuUs: number;
}

/**
 * The raw spawn rate, measured in a fresh Node process like a worker: the cost of fork grows with
 * the parent's memory, and this process holds the benchmark's large request bodies.
 */
function rawSpawnRate(total: number, concurrency: number, capture = false): SpawnResult {
  const args = [join(__dirname, 'spawn-rate.js'), String(total), String(concurrency), ...(capture ? ['capture'] : [])];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' });
  return JSON.parse(out) as SpawnResult;
}

function startWorkers(svc: Service, count: number) {
  const child = spawn(process.execPath, [CLI, 'worker', 'start', '--count', String(count)], {
    env: benchEnv(svc.home),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return {
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

interface ThroughputResult {
  rate: number;
  /** CPU per job of the service, and of the workers with their shells, microseconds. */
  serviceCpuUs: number;
  workersCpuUs: number;
}

/** Shell-job throughput: `jobs` `true` jobs through `concurrency` workers, first start to last finish. */
async function throughput(jobs: number, concurrency: number): Promise<ThroughputResult> {
  const svc = await startService();
  try {
    for (let i = 0; i < jobs; i += 1000) {
      const n = Math.min(1000, jobs - i);
      await call(svc, 'POST', '/api/jobs/batch', { jobs: Array.from({ length: n }, () => ({ command: 'true' })) });
    }
    const t0 = Date.now();
    const service0 = cpuSeconds(svc.process.pid!);
    const reaped0 = cpuSeconds('self').children;
    const workers = startWorkers(svc, concurrency);
    await waitUntil(async () => (await call(svc, 'GET', '/api/status')).counts.completed === jobs, 300_000, 50);
    const wall = (Date.now() - t0) / 1000;
    const service1 = cpuSeconds(svc.process.pid!);
    // `worker start` has exited once stop() resolves: its CPU, its workers' and their shells'
    // is then in this process's reaped-children count.
    await workers.stop();
    const reaped1 = cpuSeconds('self').children;
    // Job timestamps exclude worker start-up: first claim to last finish.
    let first = Infinity;
    let last = 0;
    let cursor: number | null = null;
    do {
      const page: { jobs: Array<{ started_at: string; finished_at: string }>; next_cursor: number | null } = await call(
        svc,
        'GET',
        `/api/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      );
      for (const j of page.jobs) {
        first = Math.min(first, Date.parse(j.started_at));
        last = Math.max(last, Date.parse(j.finished_at));
      }
      cursor = page.next_cursor;
    } while (cursor);
    const busy = (last - first) / 1000;
    const serviceCpuUs = ((service1.own - service0.own) / jobs) * 1e6;
    const workersCpuUs = ((reaped1 - reaped0) / jobs) * 1e6;
    process.stderr.write(
      `  throughput: ${jobs} jobs, ${busy.toFixed(2)} s first start → last finish (${wall.toFixed(2)} s with worker start-up); ` +
        `CPU a job: service ${serviceCpuUs.toFixed(0)} µs, workers and shells ${workersCpuUs.toFixed(0)} µs\n`,
    );
    return { rate: jobs / busy, serviceCpuUs, workersCpuUs };
  } finally {
    await svc.stop();
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(svc: Service, path: string, body: unknown): Promise<number> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      svc.url + path,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 201 ? resolve(res.statusCode) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Enqueue rate: one job per request from `clients` concurrent clients, each on its own kept-alive
 * connection and waiting for its answer before sending the next; then in batches. Every answer
 * must be 201, and the queue must hold every job afterwards.
 */
async function enqueueRates(): Promise<{ single: number; batched: number }> {
  const svc = await startService();
  const { hostname, port } = new URL(svc.url);
  const connect = () => new KeepAliveClient(hostname, Number(port), svc.token);
  const created = async (client: KeepAliveClient, path: string, body: unknown) => {
    const answer = await client.post(path, Buffer.from(JSON.stringify(body)));
    if (answer.status !== 201) throw new Error(`HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
  };
  const clients = Array.from({ length: 16 }, connect);
  try {
    const perClient = 500;
    // Warm-up: JIT and the first statements.
    await Promise.all(clients.map((client, c) => created(client, '/api/jobs', { command: `echo warm ${c}` })));
    let t0 = process.hrtime.bigint();
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < perClient; i++) await created(client, '/api/jobs', { command: `echo ${c}-${i}` });
      }),
    );
    const single = (clients.length * perClient) / (Number(process.hrtime.bigint() - t0) / 1e9);

    const batches = 40;
    const size = 2500;
    const bodies = Array.from({ length: batches }, (_, b) => ({ jobs: Array.from({ length: size }, (_, i) => ({ command: `echo ${b}-${i}` })) }));
    t0 = process.hrtime.bigint();
    // Two clients, so one batch is parsed while the other is written.
    await Promise.all(
      [0, 1].map(async (lane) => {
        for (let b = lane; b < batches; b += 2) await created(clients[lane], '/api/jobs/batch', bodies[b]);
      }),
    );
    const batched = (batches * size) / (Number(process.hrtime.bigint() - t0) / 1e9);

    const expected = clients.length * (1 + perClient) + batches * size;
    const { counts } = await call<{ counts: { pending: number } }>(svc, 'GET', '/api/status');
    if (counts.pending !== expected) throw new Error(`enqueue: ${counts.pending} jobs pending, ${expected} expected`);
    return { single, batched };
  } finally {
    for (const client of clients) client.close();
    await svc.stop();
  }
}

/** Enqueue → the command starts, on an idle worker: the command records its own start time. */
interface LatencySamples {
  /** Sent → the command runs. */
  total: number[];
  /** The parts, from the job's own timestamps (millisecond resolution): sent → created_at (the
   * request read and validated), created_at → started_at (enqueue commit, wake-up, claim), and
   * started_at → the command runs (claim commit, answer, worker, fork and exec). */
  toCreated: number[];
  toClaimed: number[];
  toRunning: number[];
}

async function latencies(samples: number): Promise<LatencySamples> {
  const svc = await startService();
  const dir = mkdtempSync(join(tmpdir(), 'queuectl-bench-lat-'));
  const workers = startWorkers(svc, 1);
  try {
    await waitUntil(async () => (await call(svc, 'GET', '/api/status')).workers.active >= 1, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const out: LatencySamples = { total: [], toCreated: [], toClaimed: [], toRunning: [] };
    for (let i = 0; i < samples; i++) {
      const file = join(dir, `t${i}`);
      const sent = performance.timeOrigin + performance.now();
      await post(svc, '/api/jobs', { id: `lat-${i}`, command: `date +%s%N > ${file}` });
      let startedNs = 0;
      await waitUntil(async () => {
        try {
          startedNs = Number(readFileSync(file, 'utf8').trim());
          return startedNs > 0;
        } catch {
          return false;
        }
      }, 10_000, 1);
      const running = startedNs / 1e6;
      out.total.push(running - sent);
      // Let the worker report and go back to its long-poll, so every sample starts idle.
      await new Promise((r) => setTimeout(r, 20));
      const job = await call<{ created_at: string; started_at: string }>(svc, 'GET', `/api/jobs/lat-${i}`);
      out.toCreated.push(Date.parse(job.created_at) - sent);
      out.toClaimed.push(Date.parse(job.started_at) - Date.parse(job.created_at));
      out.toRunning.push(running - Date.parse(job.started_at));
    }
    return out;
  } finally {
    await workers.stop();
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
  process.stderr.write(`queuectl bench — ${machine}\n`);
  const rows: Record<string, number[]> = {
    spawn: [],
    spawnCpuUs: [],
    spawnCapture: [],
    spawnCaptureCpuUs: [],
    ratioToCapture: [],
    throughput: [],
    ratio: [],
    serviceCpuUs: [],
    workersCpuUs: [],
    single: [],
    batched: [],
    latencyMedian: [],
    latencyP95: [],
    latencyToCreated: [],
    latencyToClaimed: [],
    latencyToRunning: [],
  };
  for (let run = 1; run <= args.runs; run++) {
    process.stderr.write(`run ${run}/${args.runs}\n`);
    if (args.only.has('throughput') || args.only.has('spawn')) {
      const raw = rawSpawnRate(args.jobs, args.concurrency);
      rows.spawn.push(raw.rate);
      rows.spawnCpuUs.push(raw.cpuUs);
      const captured = rawSpawnRate(args.jobs, args.concurrency, true);
      rows.spawnCapture.push(captured.rate);
      rows.spawnCaptureCpuUs.push(captured.cpuUs);
      process.stderr.write(`  raw spawn rate: ${raw.rate.toFixed(0)}/s, ${raw.cpuUs.toFixed(0)} µs CPU a spawn\n`);
      process.stderr.write(`  raw spawn rate, output captured: ${captured.rate.toFixed(0)}/s, ${captured.cpuUs.toFixed(0)} µs CPU a spawn\n`);
      if (args.only.has('throughput')) {
        const t = await throughput(args.jobs, args.concurrency);
        rows.throughput.push(t.rate);
        rows.ratio.push(t.rate / raw.rate);
        rows.ratioToCapture.push(t.rate / captured.rate);
        rows.serviceCpuUs.push(t.serviceCpuUs);
        rows.workersCpuUs.push(t.workersCpuUs);
        process.stderr.write(`  job throughput: ${t.rate.toFixed(0)}/s = ${(t.rate / raw.rate).toFixed(2)} of raw\n`);
      }
    }
    if (args.only.has('enqueue')) {
      const r = await enqueueRates();
      rows.single.push(r.single);
      rows.batched.push(r.batched);
      process.stderr.write(`  enqueue: ${r.single.toFixed(0)}/s one per request (16 clients), ${r.batched.toFixed(0)}/s batched\n`);
    }
    if (args.only.has('latency')) {
      const l = await latencies(100);
      rows.latencyMedian.push(median(l.total));
      rows.latencyP95.push(percentile(l.total, 95));
      rows.latencyToCreated.push(median(l.toCreated));
      rows.latencyToClaimed.push(median(l.toClaimed));
      rows.latencyToRunning.push(median(l.toRunning));
      process.stderr.write(
        `  latency enqueue → start: median ${median(l.total).toFixed(2)} ms, p95 ${percentile(l.total, 95).toFixed(2)} ms ` +
          `(parts: request ${median(l.toCreated).toFixed(1)}, commit and claim ${median(l.toClaimed).toFixed(1)}, claim to running ${median(l.toRunning).toFixed(1)} ms)\n`,
      );
    }
  }
  const summary = Object.fromEntries(Object.entries(rows).filter(([, v]) => v.length).map(([k, v]) => [k, { median: median(v), runs: v }]));
  const report = { date: new Date().toISOString(), machine, args: { ...args, only: [...args.only] }, summary };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `bench-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  process.stdout.write(`${JSON.stringify(report.summary, null, 2)}\nwritten to ${file}\n`);
  agent.destroy();
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).message}\n`);
  process.exit(1);
});
