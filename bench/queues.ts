/**
 * `npm run bench:queues`: claim time and shell-job throughput with 100 named queues, every one
 * limited, beside the same work on the one default queue (BENCHMARKS.md, "Named queues").
 *
 *   node dist/bench/queues.js [--runs 3] [--jobs 2000] [--claims 400] [--concurrency 4] [--database-url postgres://…]
 *
 * Claim time: one worker registered over HTTP claims one job at a time (limit 1, no wait) from a
 * queue of `jobs` pending jobs, `claims` times in a row; each claim's round trip is timed (the
 * service's claim transaction plus HTTP on loopback). With limits, the jobs are spread over 100
 * queues limited to 5 at once each, so every claim goes through the restricted path (the heads of
 * the limited queues, their row locks on PostgreSQL, the count of their running jobs) and no
 * claim is refused for a full queue (400 < 100 × 5).
 *
 * Throughput: `jobs` `true` jobs through `worker start --count N`, first start to last finish;
 * with limits, over 100 queues limited to 2 each (the limits allow more than N at once, so the
 * figure is the cost of the restricted path, not of waiting for a slot).
 *
 * The modes alternate run by run, so both see the same machine load; the report gives medians.
 * With --database-url the services use PostgreSQL (a schema of their own, dropped afterwards).
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { CLI, Service, benchEnv, call, median, percentile, startService as startBenchService } from './bench-support';
import { freshSchema } from './bench-postgres';

const QUEUES = 100;

interface Args {
  runs: number;
  jobs: number;
  claims: number;
  concurrency: number;
  databaseUrl?: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, fallback?: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
  };
  return {
    runs: Number(get('runs', '3')),
    jobs: Number(get('jobs', '2000')),
    claims: Number(get('claims', '400')),
    concurrency: Number(get('concurrency', '4')),
    databaseUrl: get('database-url'),
  };
}

/** A service on a temp home (SQLite) or on a fresh PostgreSQL schema, dropped when it stops. */
async function startService(databaseUrl: string | undefined): Promise<Service> {
  if (!databaseUrl) return startBenchService();
  const database = freshSchema(databaseUrl);
  const svc = await startBenchService(database);
  const stop = svc.stop;
  svc.stop = async () => {
    await stop();
    await database.drop();
  };
  return svc;
}

/** Enqueues `jobs` jobs of `command`, round-robin over the queues (or on the default queue), after setting each queue's limit. */
async function fill(svc: Service, jobs: number, command: string, limit: number | undefined): Promise<void> {
  const queues = limit === undefined ? [undefined] : Array.from({ length: QUEUES }, (_, i) => `q${i}`);
  if (limit !== undefined) for (const q of queues) await call(svc, 'PATCH', `/api/queues/${q}`, { concurrency: limit });
  for (let i = 0; i < jobs; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => {
      const queue = queues[(i + k) % queues.length];
      return queue ? { command, queue } : { command };
    });
    await call(svc, 'POST', '/api/jobs/batch', { jobs: batch });
  }
}

async function claimTimes(args: Args, named: boolean): Promise<number[]> {
  const svc = await startService(args.databaseUrl);
  try {
    await fill(svc, args.jobs, 'true', named ? 5 : undefined);
    const { id } = await call<{ id: string }>(svc, 'POST', '/api/workers/register', { hostname: 'bench', pid: process.pid, concurrency: 1 });
    const times: number[] = [];
    for (let i = 0; i < args.claims; i++) {
      const t0 = process.hrtime.bigint();
      const answer = await call<{ jobs: unknown[] }>(svc, 'POST', `/api/workers/${id}/claim`, { limit: 1, wait_ms: 0 });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (answer.jobs.length !== 1) throw new Error(`claim ${i} got ${answer.jobs.length} jobs`);
    }
    return times.slice(20); // the first ones warm the JIT and the statements
  } finally {
    await svc.stop();
  }
}

async function throughput(args: Args, named: boolean): Promise<number> {
  const svc = await startService(args.databaseUrl);
  try {
    await fill(svc, args.jobs, 'true', named ? 2 : undefined);
    const env = args.databaseUrl ? { ...benchEnv(svc.home), QUEUECTL_URL: svc.url, QUEUECTL_TOKEN: svc.token } : benchEnv(svc.home);
    const child = spawn(process.execPath, [CLI, 'worker', 'start', '--count', String(args.concurrency)], { env, stdio: ['ignore', 'ignore', 'ignore'] });
    const deadline = Date.now() + 600_000;
    while ((await call(svc, 'GET', '/api/status')).counts.completed < args.jobs) {
      if (Date.now() > deadline) throw new Error('throughput run timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    let first = Infinity;
    let last = 0;
    let cursor: number | null = null;
    do {
      const page: { jobs: Array<{ started_at: string; finished_at: string }>; next_cursor: number | null } = await call(svc, 'GET', `/api/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      for (const j of page.jobs) {
        first = Math.min(first, Date.parse(j.started_at));
        last = Math.max(last, Date.parse(j.finished_at));
      }
      cursor = page.next_cursor;
    } while (cursor);
    return args.jobs / ((last - first) / 1000);
  } finally {
    await svc.stop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dialect = args.databaseUrl ? 'PostgreSQL' : 'SQLite';
  const claims: Record<'plain' | 'named', number[][]> = { plain: [], named: [] };
  const rates: Record<'plain' | 'named', number[]> = { plain: [], named: [] };
  for (let run = 1; run <= args.runs; run++) {
    for (const mode of ['plain', 'named'] as const) {
      const times = await claimTimes(args, mode === 'named');
      claims[mode].push(times);
      const rate = await throughput(args, mode === 'named');
      rates[mode].push(rate);
      process.stderr.write(`run ${run} ${mode}: claim median ${median(times).toFixed(2)} ms, p95 ${percentile(times, 95).toFixed(2)} ms; throughput ${rate.toFixed(0)} jobs/s\n`);
    }
  }
  const row = (label: string, mode: 'plain' | 'named') =>
    `| ${label} | ${median(claims[mode].map((t) => median(t))).toFixed(2)} | ${median(claims[mode].map((t) => percentile(t, 95))).toFixed(2)} | ${median(rates[mode]).toFixed(0)} |`;
  process.stdout.write(
    [
      `${dialect}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${args.runs} runs, medians; ${args.jobs} jobs, ${args.claims} claims, worker --count ${args.concurrency}`,
      '',
      '| | claim, median ms | claim, p95 ms | shell-job throughput, jobs/s |',
      '|---|---:|---:|---:|',
      row('one default queue, no limits', 'plain'),
      row(`${QUEUES} named queues, each limited (5 for claims, 2 for throughput)`, 'named'),
      '',
    ].join('\n'),
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
