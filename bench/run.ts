/**
 * `npm run bench`: the figures behind BENCHMARKS.md, measured on this machine.
 *
 *   node dist/bench/run.js [--runs 5] [--jobs 2000] [--concurrency 4] [--only spawn,throughput,enqueue,latency]
 *                          [--db sqlite|postgres|sqlite,postgres] [--db-url postgres://…] [--replicas 1,2,3]
 *
 * Each run measures the raw spawn rate of `/bin/sh -c true` and the queue's shell-job throughput
 * back to back, so their ratio is taken under the same machine load; the report gives medians.
 * With several databases, each run measures every one of them in turn (interleaved). On
 * PostgreSQL every measurement gets a schema of its own (dropped after); throughput is measured
 * with each number of replicas (separate services on the database, the workers spread across
 * them), and the latency both on one replica and across replicas (enqueued on the first, the
 * worker long-polling on the last).
 */
import { execFileSync } from 'node:child_process';
import { cpuSeconds } from './cpu-seconds';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { BenchDatabase, ROOT, Service, call, enqueueBatches, median, percentile, rawSpawnRate, startService, startWorkers, waitUntil } from './bench-support';
import { DEFAULT_POSTGRES_URL, backendCpu, backendCpuDelta, freshSchema, startReplicas } from './bench-postgres';
import { KeepAliveClient } from './keep-alive-client';

interface Args {
  runs: number;
  jobs: number;
  concurrency: number;
  only: Set<string>;
  dbs: Array<'sqlite' | 'postgres'>;
  dbUrl: string;
  replicas: number[];
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
    dbs: get('db', 'sqlite')
      .split(',')
      .map((d) => {
        if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--db takes sqlite, postgres or both (got "${d}")`);
        return d;
      }),
    dbUrl: get('db-url', process.env.QUEUECTL_BENCH_DATABASE_URL ?? DEFAULT_POSTGRES_URL),
    replicas: get('replicas', '1,2,3').split(',').map(Number),
  };
}

/** Where one measurement's services keep their queue. */
interface Target {
  dialect: 'sqlite' | 'postgres';
  /** The PostgreSQL server (without schema). */
  url: string;
}

/**
 * Fresh services for one measurement: one on SQLite (its home's file), or `replicas` on a fresh
 * PostgreSQL schema, dropped afterwards.
 */
async function withServices<T>(target: Target, replicas: number, use: (services: Service[], database?: BenchDatabase) => Promise<T>): Promise<T> {
  if (target.dialect === 'sqlite') {
    if (replicas !== 1) throw new Error('SQLite runs one service');
    const svc = await startService();
    try {
      return await use([svc]);
    } finally {
      await svc.stop();
    }
  }
  const schema = freshSchema(target.url);
  try {
    const services = await startReplicas(schema, replicas);
    try {
      return await use(services, schema);
    } finally {
      await Promise.all(services.map((s) => s.stop()));
    }
  } finally {
    await schema.drop();
  }
}

interface ThroughputResult {
  /** First start → last finish. */
  rate: number;
  /** From starting the workers to all completed (a user's wall clock, worker start-up included). */
  wallRate: number;
  /** CPU per job of the services, of the workers with their shells, and of PostgreSQL's backends serving the services, microseconds. */
  serviceCpuUs: number;
  workersCpuUs: number;
  databaseCpuUs: number;
}

/** Workers of `concurrency` slots in all, spread over the replicas (4 over 3: 2, 1, 1). */
function spread(concurrency: number, replicas: number): number[] {
  return Array.from({ length: Math.min(replicas, concurrency) }, (_, i) => Math.floor(concurrency / replicas) + (i < concurrency % replicas ? 1 : 0));
}

/**
 * Shell-job throughput: `jobs` `true` jobs through `concurrency` workers, first start to last
 * finish; on PostgreSQL with `replicas` services, one `worker start` on each.
 */
async function throughput(target: Target, replicas: number, jobs: number, concurrency: number): Promise<ThroughputResult> {
  return withServices(target, replicas, async (services, database) => {
    const svc = services[0];
    await enqueueBatches(svc, jobs);
    const backends0 = database ? await backendCpu(target.url) : new Map<number, number>();
    const t0 = Date.now();
    const service0 = services.reduce((sum, s) => sum + cpuSeconds(s.process.pid!).own, 0);
    const reaped0 = cpuSeconds('self').children;
    const workers = spread(concurrency, services.length).map((count, i) => startWorkers(services[i], count, database));
    await waitUntil(async () => (await call(svc, 'GET', '/api/status')).counts.completed === jobs, 300_000, 20);
    const wall = (Date.now() - t0) / 1000;
    const service1 = services.reduce((sum, s) => sum + cpuSeconds(s.process.pid!).own, 0);
    const backends1 = database ? await backendCpu(target.url) : new Map<number, number>();
    // `worker start` has exited once stop() resolves: its CPU, its workers' and their shells'
    // is then in this process's reaped-children count.
    await Promise.all(workers.map((w) => w.stop()));
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
    const serviceCpuUs = ((service1 - service0) / jobs) * 1e6;
    const workersCpuUs = ((reaped1 - reaped0) / jobs) * 1e6;
    const databaseCpuUs = (backendCpuDelta(backends0, backends1) / jobs) * 1e6;
    process.stderr.write(
      `  throughput (${target.dialect}, ${services.length} service${services.length > 1 ? 's' : ''}): ${jobs} jobs, ${busy.toFixed(2)} s first start → last finish (${wall.toFixed(2)} s with worker start-up); ` +
        `CPU a job: service ${serviceCpuUs.toFixed(0)} µs, workers and shells ${workersCpuUs.toFixed(0)} µs` +
        `${database ? `, PostgreSQL backends ${databaseCpuUs.toFixed(0)} µs` : ''}\n`,
    );
    return { rate: jobs / busy, wallRate: jobs / wall, serviceCpuUs, workersCpuUs, databaseCpuUs };
  });
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
interface EnqueueResult {
  single: number;
  batched: number;
  /** CPU a job of the service and of PostgreSQL's backends, one job a request, microseconds. */
  singleServiceCpuUs: number;
  singleDatabaseCpuUs: number;
}

async function enqueueRates(target: Target): Promise<EnqueueResult> {
  return withServices(target, 1, async ([svc], database) => enqueueOn(svc, target, database !== undefined));
}

async function enqueueOn(svc: Service, target: Target, postgres: boolean): Promise<EnqueueResult> {
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
    const backends0 = postgres ? await backendCpu(target.url) : new Map<number, number>();
    const service0 = cpuSeconds(svc.process.pid!).own;
    let t0 = process.hrtime.bigint();
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < perClient; i++) await created(client, '/api/jobs', { command: `echo ${c}-${i}` });
      }),
    );
    const single = (clients.length * perClient) / (Number(process.hrtime.bigint() - t0) / 1e9);
    const singleServiceCpuUs = ((cpuSeconds(svc.process.pid!).own - service0) / (clients.length * perClient)) * 1e6;
    const singleDatabaseCpuUs = (backendCpuDelta(backends0, postgres ? await backendCpu(target.url) : new Map()) / (clients.length * perClient)) * 1e6;

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
    return { single, batched, singleServiceCpuUs, singleDatabaseCpuUs };
  } finally {
    for (const client of clients) client.close();
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

/**
 * On `replicas` services: enqueued through the first, the worker long-polling on the last (on
 * SQLite, and with one replica, the same service).
 */
async function latencies(target: Target, replicas: number, samples: number): Promise<LatencySamples> {
  return withServices(target, replicas, (services, database) => latenciesOn(services[0], services[services.length - 1], samples, database));
}

async function latenciesOn(svc: Service, workerSvc: Service, samples: number, database?: BenchDatabase): Promise<LatencySamples> {
  const dir = mkdtempSync(join(tmpdir(), 'queuectl-bench-lat-'));
  const workers = startWorkers(workerSvc, 1, database);
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
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The spawn floor under the latency, in a fresh process (bench/start-floor.ts). */
function startFloor(samples: number): { median: number; p95: number } {
  return JSON.parse(execFileSync(process.execPath, [join(__dirname, 'start-floor.js'), String(samples)], { encoding: 'utf8' })) as { median: number; p95: number };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
  process.stderr.write(`queuectl bench — ${machine}\n`);
  const rows: Record<string, number[]> = {};
  const record = (key: string, value: number) => (rows[key] ??= []).push(value);
  const targets: Target[] = args.dbs.map((dialect) => ({ dialect, url: args.dbUrl }));
  for (let run = 1; run <= args.runs; run++) {
    process.stderr.write(`run ${run}/${args.runs}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    record('loadAverage1m', loadavg()[0]);
    if (args.only.has('throughput') || args.only.has('spawn')) {
      const raw = rawSpawnRate(args.jobs, args.concurrency);
      record('spawn', raw.rate);
      record('spawnCpuUs', raw.cpuUs);
      const captured = rawSpawnRate(args.jobs, args.concurrency, true);
      record('spawnCapture', captured.rate);
      record('spawnCaptureCpuUs', captured.cpuUs);
      process.stderr.write(`  raw spawn rate: ${raw.rate.toFixed(0)}/s, ${raw.cpuUs.toFixed(0)} µs CPU a spawn\n`);
      process.stderr.write(`  raw spawn rate, output captured: ${captured.rate.toFixed(0)}/s, ${captured.cpuUs.toFixed(0)} µs CPU a spawn\n`);
      if (args.only.has('throughput')) {
        for (const target of targets) {
          for (const replicas of target.dialect === 'sqlite' ? [1] : args.replicas) {
            const key = target.dialect === 'sqlite' ? 'sqlite' : `postgres.r${replicas}`;
            const t = await throughput(target, replicas, args.jobs, args.concurrency);
            record(`${key}.throughput`, t.rate);
            record(`${key}.throughputWall`, t.wallRate);
            record(`${key}.ratio`, t.rate / raw.rate);
            record(`${key}.ratioToCapture`, t.rate / captured.rate);
            record(`${key}.wallRatioToCapture`, t.wallRate / captured.rate);
            record(`${key}.serviceCpuUs`, t.serviceCpuUs);
            record(`${key}.workersCpuUs`, t.workersCpuUs);
            if (target.dialect === 'postgres') record(`${key}.databaseCpuUs`, t.databaseCpuUs);
            process.stderr.write(`  job throughput: ${t.rate.toFixed(0)}/s = ${(t.rate / raw.rate).toFixed(2)} of raw, ${(t.rate / captured.rate).toFixed(2)} of captured\n`);
          }
        }
      }
    }
    if (args.only.has('enqueue')) {
      for (const target of targets) {
        const r = await enqueueRates(target);
        record(`${target.dialect}.single`, r.single);
        record(`${target.dialect}.batched`, r.batched);
        record(`${target.dialect}.singleServiceCpuUs`, r.singleServiceCpuUs);
        if (target.dialect === 'postgres') record(`${target.dialect}.singleDatabaseCpuUs`, r.singleDatabaseCpuUs);
        process.stderr.write(
          `  enqueue (${target.dialect}): ${r.single.toFixed(0)}/s one per request (16 clients; CPU a job: service ${r.singleServiceCpuUs.toFixed(0)} µs` +
            `${target.dialect === 'postgres' ? `, PostgreSQL backends ${r.singleDatabaseCpuUs.toFixed(0)} µs` : ''}), ${r.batched.toFixed(0)}/s batched\n`,
        );
      }
    }
    if (args.only.has('latency')) {
      const floor = startFloor(50);
      record('latencyFloor', floor.median);
      process.stderr.write(`  spawn floor under the latency: median ${floor.median.toFixed(2)} ms\n`);
      for (const target of targets) {
        for (const replicas of target.dialect === 'sqlite' ? [1] : [1, 3]) {
          const key = target.dialect === 'sqlite' ? 'sqlite' : `postgres.r${replicas}`;
          const l = await latencies(target, replicas, 100);
          record(`${key}.latencyMedian`, median(l.total));
          record(`${key}.latencyAboveFloor`, median(l.total) - floor.median);
          record(`${key}.latencyP95`, percentile(l.total, 95));
          record(`${key}.latencyToCreated`, median(l.toCreated));
          record(`${key}.latencyToClaimed`, median(l.toClaimed));
          record(`${key}.latencyToRunning`, median(l.toRunning));
          process.stderr.write(
            `  latency enqueue → start (${target.dialect}${replicas > 1 ? `, enqueued on replica 1, worker on replica ${replicas}` : ''}): median ${median(l.total).toFixed(2)} ms, p95 ${percentile(l.total, 95).toFixed(2)} ms ` +
              `(parts: request ${median(l.toCreated).toFixed(1)}, commit and claim ${median(l.toClaimed).toFixed(1)}, claim to running ${median(l.toRunning).toFixed(1)} ms)\n`,
          );
        }
      }
    }
  }
  const summary = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, { median: median(v), runs: v.map((x) => Number(x.toPrecision(4))) }]));
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
