/**
 * `npm run bench:scale`: how claiming, status, listing and the service's memory behave as the
 * jobs table grows, against the built service on a temp home (SPEC §7).
 *
 *   node dist/bench/scale.js [--max 1000000] [--steps 10000,100000,1000000] [--samples 21]
 *                            [--batch 10000] [--worker-jobs 1000]
 *
 * The table grows through POST /api/jobs/batch to each step's size; at each step every figure is
 * the median of several samples taken from this process over a keep-alive connection. Claims go
 * through the worker protocol and are reported completed, so the table keeps its size; the
 * real-worker figure runs `true` jobs from the front of the queue.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, Service, benchEnv, median, percentile, startService } from './bench-support';
import { QueryPlan, queryPlans } from './scale-plans';

interface Args {
  max: number;
  steps: number[];
  samples: number;
  batch: number;
  workerJobs: number;
}

interface Timing {
  median: number;
  p90: number;
}

interface StepResult {
  jobs: number;
  pending: number;
  /** Jobs completed so far, each one finished run: what GET /api/metrics summarises. */
  completed: number;
  enqueue: { jobs: number; seconds: number; perSecond: number; lastBatchesPerSecond: number };
  ms: Record<'status' | 'listFirst' | 'listDeep' | 'listPending' | 'listPendingDeep' | 'search' | 'metrics' | 'claim' | 'reportClaim' | 'report', Timing>;
  workerJobsPerSecond: number;
  rssMiB: number;
  peakRssMiB: number;
  dbMiB: number;
  walMiB: number;
  plans: QueryPlan[];
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const count = (name: string, fallback: number, min: number, max = Infinity): number => {
    const raw = get(name);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const max = count('max', 1_000_000, 1000);
  // 1-3-10 steps from 10,000 up to --max, which is always the last step.
  const defaults = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000].filter((n) => n < max).concat(max);
  const steps = get('steps')?.split(',').map(Number) ?? defaults;
  if (steps.some((n, i) => !Number.isInteger(n) || n < 1000 || (i > 0 && n <= steps[i - 1]))) {
    throw new Error('--steps must be increasing whole numbers of at least 1000, comma-separated');
  }
  return {
    max: steps[steps.length - 1],
    steps,
    samples: count('samples', 21, 3),
    batch: count('batch', 10_000, 1, 10_000),
    workerJobs: count('worker-jobs', 1000, 0),
  };
}

/** Longest the real-worker figure runs at one step, so a slow claim cannot stretch the run without end. */
const REAL_WORKER_MS = 15_000;

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/** One request over the keep-alive agent: the parsed answer and the time to its last byte. */
function request<T = any>(svc: Service, method: string, path: string, body?: unknown): Promise<{ data: T; ms: number }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      svc.url + path,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${svc.token}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - t0;
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
          else resolve({ data: JSON.parse(text) as T, ms });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function timing(samples: number[]): Timing {
  return { median: median(samples), p90: percentile(samples, 90) };
}

/** Times `sample(i)` `n` times after two unrecorded warm-up calls. */
async function timed(n: number, sample: (i: number) => Promise<number>): Promise<Timing> {
  for (let i = 0; i < 2; i++) await sample(i);
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(await sample(i));
  return timing(ms);
}

/**
 * Enqueues until the table holds `target` jobs. Two requests are in flight, so the service
 * parses one batch while it writes the other. Commands are `true` with a comment that makes
 * each one distinct, so a real worker can run them and a search has text to look through.
 */
async function grow(svc: Service, from: number, target: number, batch: number): Promise<StepResult['enqueue']> {
  let next = from;
  const ends: Array<{ at: number; jobs: number }> = [];
  const t0 = performance.now();
  const lane = async () => {
    while (next < target) {
      const first = next;
      const n = Math.min(batch, target - first);
      next += n;
      const jobs = Array.from({ length: n }, (_, i) => ({ command: `true # filler ${first + i}` }));
      await request(svc, 'POST', '/api/jobs/batch', { jobs });
      ends.push({ at: performance.now(), jobs: n });
    }
  };
  await Promise.all([lane(), lane()]);
  const seconds = (performance.now() - t0) / 1000;
  // The rate at this size: over the last batches, not the whole way up from the last step. With
  // two requests in flight one batch's end says little, so a few are needed to time.
  const tail = Math.min(10, Math.floor(ends.length / 2));
  const lastBatchesPerSecond =
    tail >= 3
      ? ends.slice(-tail).reduce((a, e) => a + e.jobs, 0) / ((ends[ends.length - 1].at - ends[ends.length - 1 - tail].at) / 1000)
      : (target - from) / seconds;
  return { jobs: target - from, seconds, perSecond: (target - from) / seconds, lastBatchesPerSecond };
}

/**
 * Claim, report-with-next-claim and report, through the worker protocol, as one worker that
 * finishes each job at once: the service's cost per job, without a command's.
 */
async function claimPath(svc: Service, samples: number): Promise<Pick<StepResult['ms'], 'claim' | 'reportClaim' | 'report'>> {
  const { data: worker } = await request<{ id: string }>(svc, 'POST', '/api/workers/register', { hostname: 'bench-scale', pid: process.pid, concurrency: 1 });
  const base = `/api/workers/${worker.id}`;
  type Claimed = { jobs: Array<{ id: string; lease: number }> };
  const done = (job: { id: string; lease: number }) => ({ id: job.id, lease: job.lease, exit_code: 0 });
  const claim: number[] = [];
  const reportClaim: number[] = [];
  const report: number[] = [];
  try {
    for (let i = 0; i < samples + 2; i++) {
      const first = await request<Claimed>(svc, 'POST', `${base}/claim`, { limit: 1, wait_ms: 100 });
      const second = await request<Claimed>(svc, 'POST', `${base}/report`, { results: first.data.jobs.map(done), claim: 1 });
      const third = await request<Claimed>(svc, 'POST', `${base}/report`, { results: second.data.jobs.map(done), claim: 0 });
      if (first.data.jobs.length !== 1 || second.data.jobs.length !== 1) throw new Error('the claim path found no pending job');
      if (i < 2) continue;
      claim.push(first.ms);
      reportClaim.push(second.ms);
      report.push(third.ms);
    }
  } finally {
    await request(svc, 'POST', `${base}/deregister`);
  }
  return { claim: timing(claim), reportClaim: timing(reportClaim), report: timing(report) };
}

async function completedCount(svc: Service): Promise<number> {
  return (await request<{ counts: { completed: number } }>(svc, 'GET', '/api/status')).data.counts.completed;
}

/** Polls status until `atLeast` jobs are completed or `deadline` (epoch ms) passes; answers the count reached. */
async function waitForCompleted(svc: Service, atLeast: number, deadline: number): Promise<number> {
  for (;;) {
    const done = await completedCount(svc);
    if (done >= atLeast || Date.now() > deadline) return done;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * `queuectl worker start --count 1` running `true` jobs from the front of the queue: jobs/s over
 * `jobs` jobs, or over what it ran in REAL_WORKER_MS when the queue is slower than that.
 */
async function realWorker(svc: Service, jobs: number): Promise<number> {
  if (jobs === 0) return NaN;
  const child: ChildProcess = spawn(process.execPath, [CLI, 'worker', 'start', '--count', '1'], { env: benchEnv(svc.home), stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    // Start-up and the first runs are left out: timing begins once 5 jobs are done.
    const base = await completedCount(svc);
    const from = await waitForCompleted(svc, base + 5, Date.now() + 60_000);
    if (from < base + 5) throw new Error('real worker: fewer than 5 jobs completed in 60 s');
    const t0 = performance.now();
    const to = await waitForCompleted(svc, from + jobs, Date.now() + REAL_WORKER_MS);
    return (to - from) / ((performance.now() - t0) / 1000);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

function memoryOf(pid: number): { rssMiB: number; peakRssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
}

function sizeMiB(file: string): number {
  try {
    return statSync(file).size / 2 ** 20;
  } catch {
    return 0;
  }
}

async function measure(svc: Service, jobs: number, enqueue: StepResult['enqueue'], args: Args): Promise<StepResult> {
  const n = args.samples;
  // Cursors spread over the middle half of the table: deep pages, not one page the cache keeps.
  const deepCursor = (i: number) => Math.round(jobs * (0.25 + (0.5 * i) / n));
  const get = (path: string) => async () => (await request(svc, 'GET', path)).ms;
  const ms = {
    status: await timed(n, get('/api/status')),
    listFirst: await timed(n, get('/api/jobs?limit=50')),
    listDeep: await timed(n, (i) => get(`/api/jobs?limit=50&cursor=${deepCursor(i)}`)()),
    listPending: await timed(n, get('/api/jobs?state=pending&limit=50')),
    listPendingDeep: await timed(n, (i) => get(`/api/jobs?state=pending&limit=50&cursor=${deepCursor(i)}`)()),
    // A search that matches nothing is the worst case: nothing ends the walk early.
    search: await timed(Math.min(n, 5), get('/api/jobs?q=no-such-command&limit=50')),
    metrics: await timed(Math.min(n, 9), get('/api/metrics')),
    ...(await claimPath(svc, n)),
  };
  const workerJobsPerSecond = await realWorker(svc, args.workerJobs);
  const { data: status } = await request<{ counts: { pending: number; completed: number }; total: number }>(svc, 'GET', '/api/status');
  if (status.total !== jobs) throw new Error(`the table holds ${status.total} jobs, expected ${jobs}`);
  const db = join(svc.home, 'queue.db');
  return {
    jobs,
    pending: status.counts.pending,
    completed: status.counts.completed,
    enqueue,
    ms,
    workerJobsPerSecond,
    ...memoryOf(svc.process.pid!),
    dbMiB: sizeMiB(db),
    walMiB: sizeMiB(`${db}-wal`),
    plans: await queryPlans(db, Math.round(jobs / 2), Date.now()),
  };
}

function grid(head: string[], body: string[][]): string {
  const widths = head.map((_, c) => Math.max(...[head, ...body].map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

const fixed = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

function table(results: StepResult[]): string {
  const f = fixed;
  const rows: Array<[string, (r: StepResult) => string]> = [
    ['enqueue jobs/s (batched, at this size)', (r) => f(r.enqueue.lastBatchesPerSecond, 0)],
    ['GET /api/status ms', (r) => f(r.ms.status.median, 2)],
    ['GET /api/jobs?limit=50 ms', (r) => f(r.ms.listFirst.median, 2)],
    ['  deep page (cursor mid-table) ms', (r) => f(r.ms.listDeep.median, 2)],
    ['  state=pending ms', (r) => f(r.ms.listPending.median, 2)],
    ['  state=pending, deep ms', (r) => f(r.ms.listPendingDeep.median, 2)],
    ['  q=<no match> ms', (r) => f(r.ms.search.median, 1)],
    ['GET /api/metrics ms', (r) => f(r.ms.metrics.median, 2)],
    ['  (runs finished so far)', (r) => String(r.completed)],
    ['claim (limit 1) ms', (r) => f(r.ms.claim.median, 2)],
    ['report + next claim ms', (r) => f(r.ms.reportClaim.median, 2)],
    ['report ms', (r) => f(r.ms.report.median, 2)],
    ['real worker, `true` jobs/s', (r) => f(r.workerJobsPerSecond, 0)],
    ['service RSS MiB (peak)', (r) => `${f(r.rssMiB, 0)} (${f(r.peakRssMiB, 0)})`],
    ['database MiB (+ WAL)', (r) => `${f(r.dbMiB, 0)} (+${f(r.walMiB, 0)})`],
  ];
  return grid(['jobs in table', ...results.map((r) => r.jobs.toLocaleString('en-US'))], rows.map(([label, cell]) => [label, ...results.map(cell)]));
}

/** Each read statement alone on the file, per step; plans at the largest step, unindexed ones marked. */
function statements(results: StepResult[]): string {
  const last = results[results.length - 1];
  const reads = last.plans.map((p, i) => ({ p, i })).filter(({ p }) => p.ms !== null);
  const times = grid(
    ['statement alone, ms', ...results.map((r) => r.jobs.toLocaleString('en-US'))],
    reads.map(({ p, i }) => [p.name, ...results.map((r) => fixed(r.plans[i]?.ms ?? NaN, 3))]),
  );
  const plans = last.plans.map((p) => `${p.unindexed ? '!' : ' '} ${p.name}: ${p.plan.join(' | ') || '(no table read)'}`);
  return `${times}\n\nplans at ${last.jobs.toLocaleString('en-US')} jobs (! = unindexed scan or sort):\n${plans.join('\n')}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
  process.stderr.write(`queuectl scale bench — ${machine}\nsteps: ${args.steps.join(', ')}\n`);
  const started = Date.now();
  const svc = await startService();
  const results: StepResult[] = [];
  try {
    let size = 0;
    for (const step of args.steps) {
      const enqueue = await grow(svc, size, step, args.batch);
      size = step;
      process.stderr.write(`  ${step} jobs: enqueued ${enqueue.jobs} in ${enqueue.seconds.toFixed(1)} s (${enqueue.perSecond.toFixed(0)}/s); measuring…\n`);
      const result = await measure(svc, step, enqueue, args);
      results.push(result);
    }
  } finally {
    await svc.stop();
    agent.destroy();
  }
  const seconds = (Date.now() - started) / 1000;
  const report = { date: new Date().toISOString(), machine, args, seconds, results };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `scale-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  process.stdout.write(`${table(results)}\n\n${statements(results)}\n\nmedians of ${args.samples} samples (search ${Math.min(args.samples, 5)}, metrics ${Math.min(args.samples, 9)}); run took ${seconds.toFixed(0)} s\nwritten to ${file}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).message}\n`);
  process.exit(1);
});
