/**
 * `node dist/bench/enqueue-cpu.js [--db sqlite|postgres] [--jobs 2000] [--runs 3]`: one client
 * enqueuing back to back (one awaited `POST /api/jobs` a job, on one kept-alive connection), and
 * the CPU each enqueue costs: the service's (every thread of it) and, on PostgreSQL, that of the
 * server's backends serving it (read from /proc: the server runs on this machine). Each run is a
 * fresh service (on PostgreSQL, a schema of its own, dropped afterwards); 300 enqueues warm it up
 * before the counted ones. CPU counts where wall-clock rates drift with a shared machine: compare
 * two builds by alternating runs of this in each.
 */
import { threadCpuMs } from './cpu-seconds';
import { BenchDatabase, Service, benchOption, median, startService } from './bench-support';
import { DEFAULT_POSTGRES_URL, backendCpu, backendCpuDelta, freshSchema, startReplicas } from './bench-postgres';
import { KeepAliveClient } from './keep-alive-client';

const WARM_UP = 300;

interface RunResult {
  jobsPerSecond: number;
  serviceUs: number;
  /** PostgreSQL's backends; undefined on SQLite. */
  databaseUs?: number;
}

async function measure(db: string, jobs: number, dbUrl: string): Promise<RunResult> {
  const schema = db === 'postgres' ? freshSchema(dbUrl) : undefined;
  let svc: Service | undefined;
  try {
    // On PostgreSQL through startReplicas: its replica name is how the backends serving it are found.
    svc = schema ? (await startReplicas(schema as BenchDatabase, 1))[0] : await startService();
    const { hostname, port } = new URL(svc.url);
    const client = new KeepAliveClient(hostname, Number(port), svc.token);
    const body = Buffer.from(JSON.stringify({ command: 'true' }));
    const enqueue = async () => {
      const answer = await client.post('/api/jobs', body);
      if (answer.status !== 201) throw new Error(`enqueue: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
    };
    for (let i = 0; i < WARM_UP; i++) await enqueue();
    const pid = svc.process.pid!;
    const backendsBefore = schema ? await backendCpu(dbUrl) : undefined;
    const serviceBefore = threadCpuMs(pid).all;
    const started = process.hrtime.bigint();
    for (let i = 0; i < jobs; i++) await enqueue();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const serviceMs = threadCpuMs(pid).all - serviceBefore;
    const backendSeconds = backendsBefore ? backendCpuDelta(backendsBefore, await backendCpu(dbUrl)) : undefined;
    client.close();
    return {
      jobsPerSecond: Math.round(jobs / seconds),
      serviceUs: Math.round((serviceMs * 1000) / jobs),
      databaseUs: backendSeconds === undefined ? undefined : Math.round((backendSeconds * 1e6) / jobs),
    };
  } finally {
    await svc?.stop();
    await schema?.drop();
  }
}

async function main(): Promise<void> {
  const db = benchOption('db', 'sqlite');
  if (db !== 'sqlite' && db !== 'postgres') throw new Error('--db must be sqlite or postgres');
  const jobs = Number(benchOption('jobs', '2000'));
  const runs = Number(benchOption('runs', '3'));
  const dbUrl = benchOption('db-url', DEFAULT_POSTGRES_URL);
  const results: RunResult[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await measure(db, jobs, dbUrl);
    results.push(r);
    process.stderr.write(`run ${i + 1}: ${JSON.stringify(r)}\n`);
  }
  const medianOf = (pick: (r: RunResult) => number | undefined) => {
    const values = results.map(pick).filter((v): v is number => v !== undefined);
    return values.length > 0 ? median(values) : undefined;
  };
  const summary = {
    db,
    jobs,
    runs,
    jobsPerSecond: medianOf((r) => r.jobsPerSecond),
    serviceUs: medianOf((r) => r.serviceUs),
    databaseUs: medianOf((r) => r.databaseUs),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
