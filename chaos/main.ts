/**
 * `npm run chaos`: a real service, real `worker start` processes (one behind a loopback TCP
 * proxy) and thousands of real commands, with processes killed, stopped, suspended and cut off at
 * seeded random times; then the checks of verdict.ts. See RELIABILITY.md.
 */
import { Command, InvalidArgumentError } from 'commander';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Endpoint, request } from '../cli/http';
import { Client } from 'pg';
import { Cluster, freePort, sleep } from './cluster';
import { FaultInjector, planFaults } from './faults';
import { report } from './report';
import { Rng } from './rng';
import { ServiceJob, judge, parseRunLog } from './verdict';
import { LOG_NAME, enqueueJobs, enqueueLoneJobs, planJobs, writeJobScript } from './workload';

export interface ChaosOptions {
  jobs: number;
  workers: number;
  slots: number;
  long: number;
  /** Percent of jobs enqueued one request each while the faults run (enqueueLoneJobs). */
  lone: number;
  duration: number;
  lease: number;
  seed: number;
  home?: string;
  keep: boolean;
  json: boolean;
  /** sqlite: one service on a file in the home; postgres: `replicas` services on one database. */
  db: 'sqlite' | 'postgres';
  replicas: number;
  /** The PostgreSQL database; the run makes a schema of its own in it and drops it after. */
  databaseUrl: string;
}

/** Where `--db postgres` runs when no --database-url is given: the CI's and development machines' PostgreSQL. */
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

const CLI = resolve(__dirname, '..', 'cli', 'main.js');

function whole(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function dialect(value: string): 'sqlite' | 'postgres' {
  if (value !== 'sqlite' && value !== 'postgres') throw new InvalidArgumentError('must be sqlite or postgres');
  return value;
}

function amount(min: number, max: number, unit: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`must be ${unit} from ${min} to ${max}`);
    return n;
  };
}

/** Every job of the queue with its runs, as the service answers them. */
export async function readJobs(endpoint: Endpoint, readers = 4): Promise<ServiceJob[]> {
  const ids: string[] = [];
  let cursor: number | undefined;
  for (let page = 0; page < 100_000; page++) {
    const answer = await request<{ jobs: Array<{ id: string }>; next_cursor: number | null }>(
      endpoint,
      'GET',
      `/api/jobs?limit=1000${cursor === undefined ? '' : `&cursor=${cursor}`}`,
    );
    ids.push(...answer.jobs.map((j) => j.id));
    if (answer.next_cursor === null || answer.next_cursor === undefined) break;
    cursor = answer.next_cursor;
  }
  const jobs: ServiceJob[] = [];
  let next = 0;
  const reader = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      jobs.push(await request<ServiceJob>(endpoint, 'GET', `/api/jobs/${encodeURIComponent(id)}`));
    }
  };
  await Promise.all(Array.from({ length: readers }, reader));
  return jobs;
}

interface Counts {
  counts: Record<string, number>;
}

/**
 * Waits until no job is pending, processing or failed. Gives up when that number has not gone
 * down for `stallMs` — long enough for every recovery (lease, sweep, restart grace, backoff) —
 * or after `capMs` in all; what is left then is stuck.
 */
async function settle(cluster: Cluster, stallMs: number, capMs: number): Promise<number> {
  const began = Date.now();
  let best = Infinity;
  let progressAt = Date.now();
  for (;;) {
    const { counts } = await request<Counts>(cluster.endpoint, 'GET', '/api/status');
    const open = (counts.pending ?? 0) + (counts.processing ?? 0) + (counts.failed ?? 0);
    if (open === 0) return Date.now() - began;
    if (open < best) {
      best = open;
      progressAt = Date.now();
    }
    if (Date.now() - progressAt > stallMs || Date.now() - began > capMs) return Date.now() - began;
    await sleep(500);
  }
}

export async function runChaos(options: ChaosOptions, say: (line: string) => void): Promise<number> {
  const home = options.home ? resolve(options.home) : mkdtempSync(join(tmpdir(), 'queuectl-chaos-'));
  if (options.home) {
    if (existsSync(home) && readdirSync(home).length > 0) throw new Error(`--home ${home} is not empty; give a new or empty directory`);
    mkdirSync(home, { recursive: true });
  }
  const rng = new Rng(options.seed);
  const leaseMs = options.lease * 1000;
  const schema = options.db === 'postgres' ? `chaos_${randomBytes(6).toString('hex')}` : undefined;
  const ports: number[] = [];
  for (let i = 0; i < (options.db === 'postgres' ? options.replicas : 1); i++) ports.push(await freePort());
  const cluster = new Cluster({
    home,
    cli: CLI,
    ports,
    databaseUrl: schema === undefined ? undefined : withSchema(options.databaseUrl, schema),
    token: randomBytes(18).toString('base64url'),
    workers: options.workers,
    slots: options.slots,
    log: say,
  });
  const cleanup = () => cluster.killEverything();
  process.once('exit', cleanup);
  let keep = options.keep || Boolean(options.home);
  try {
    say(`home ${home}; seed ${options.seed}${schema ? `; ${options.replicas} replicas on PostgreSQL, schema ${schema}` : ''}`);
    const script = writeJobScript(home);
    await cluster.start();
    // Heartbeat first: the service keeps lease ≥ 2 × heartbeat at every step.
    await request(cluster.endpoint, 'PUT', '/api/config/heartbeat-interval', { body: { value: options.lease / 4 } });
    await request(cluster.endpoint, 'PUT', '/api/config/lease-timeout', { body: { value: options.lease } });
    const durationMs = options.duration * 1000;
    const jobs = planJobs(options.jobs, rng, Date.now() + 1000, durationMs * 0.8, options.long / 100);
    const faults = planFaults(rng, durationMs, options.workers, leaseMs, 1000);
    // Drawn after the faults, so a seed's jobs and faults stay what they were before lone jobs.
    const lone = new Set(jobs.filter(() => rng.int(0, 99) < options.lone).map((j) => j.id));
    await enqueueJobs(cluster.endpoint, jobs.filter((j) => !lone.has(j.id)), script);
    say(`enqueued ${jobs.length - lone.size} jobs; starting ${options.workers} workers; ${lone.size} more one at a time as they fall due`);
    await cluster.startWorkers();
    const injector = new FaultInjector(cluster, say);
    say(`injecting ${faults.length} faults over ${options.duration} s`);
    const loneDone = enqueueLoneJobs(cluster.proxyEndpoint, jobs.filter((j) => lone.has(j.id)), script);
    await injector.run(faults);
    const again = await loneDone;
    say(`the ${lone.size} lone jobs acknowledged; ${again} of their enqueues sent again`);
    // Recovery takes at most: a restart's grace (one lease) + a lease + sweeps + backoff; twice
    // that, and half a minute for load, without any job finishing means something is stuck.
    const stallMs = 4 * leaseMs + 30_000;
    say('faults over; waiting for every job to finish');
    const settleMs = await settle(cluster, stallMs, Math.max(600_000, options.jobs * 100));
    say(`settled after ${(settleMs / 1000).toFixed(1)} s; stopping the workers`);
    await cluster.stopWorkers();
    // The orphan guards of killed workers have ended what those left; give the last lines a moment.
    await sleep(1000);
    const service = await readJobs(cluster.endpoint);
    await cluster.stop();
    const log = parseRunLog(existsSync(join(home, LOG_NAME)) ? readFileSync(join(home, LOG_NAME), 'utf8') : '');
    const verdict = judge(jobs, service, log, injector.injected);
    if (verdict.violations > 0) keep = true;
    if (keep) {
      // For inspection beside the run log: what the service answered, and the faults.
      writeFileSync(join(home, 'jobs.json'), JSON.stringify(service));
      writeFileSync(join(home, 'faults.json'), JSON.stringify(injector.injected, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
    }
    process.stdout.write(report(verdict, { ...options, home, kept: keep, skipped: Object.fromEntries(injector.skipped), settleMs }));
    return verdict.violations > 0 ? 1 : 0;
  } catch (e) {
    keep = true;
    throw e;
  } finally {
    cluster.killEverything();
    process.off('exit', cleanup);
    if (!keep) rmSync(home, { recursive: true, force: true });
    if (!keep && schema) await dropSchema(options.databaseUrl, schema).catch((e: Error) => say(`could not drop schema ${schema}: ${e.message}`));
  }
}

function withSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

export function chaosProgram(): Command {
  return new Command('chaos')
    .description('run queuectl under injected faults and check that no job is lost, stuck, run twice at once or wrongly completed')
    .option('--jobs <n>', 'jobs to enqueue', whole(1, 1_000_000), 10_000)
    .option('--workers <n>', '`worker start` processes (the first behind the TCP proxy)', whole(1, 32), 4)
    .option('--slots <n>', 'jobs each worker runs at once', whole(1, 64), 16)
    .option('--lone <percent>', 'share of jobs enqueued one request each when they fall due, during the faults, instead of in a batch before them', amount(0, 100, 'a percentage'), 10)
    .option('--long <percent>', 'share of long jobs (1–10 s, ticking), in percent; up to 86', amount(0, 86, 'a percentage'), 10)
    .option('--duration <seconds>', 'how long faults are injected; jobs are due over the first 80% of it', amount(1, 86_400, 'seconds'), 180)
    .option('--lease <seconds>', 'lease-timeout of the queue (heartbeat-interval is a quarter of it)', amount(2, 3600, 'seconds'), 4)
    .option('--seed <n>', 'seed of the jobs and faults (default: random, printed)', whole(0, 2 ** 31 - 1))
    .option('--home <dir>', 'QUEUECTL_HOME to use (new or empty; kept)')
    .option('--db <dialect>', 'sqlite: one service; postgres: --replicas services on one PostgreSQL database, behind the round-robin proxy', dialect, 'sqlite')
    .option('--replicas <n>', 'service replicas with --db postgres (a replica\'s SIGKILL is the service-kill fault)', whole(1, 16), 3)
    .option('--database-url <url>', 'PostgreSQL database for --db postgres (the run uses a schema of its own and drops it)', DEFAULT_DATABASE_URL)
    .option('--keep', 'keep the temporary QUEUECTL_HOME (and schema) (they are always kept when a check fails)')
    .option('--json', 'print the result as one JSON object on stdout');
}

async function main(): Promise<void> {
  // Usage errors exit 2, as the CLI's do; commander has already printed the one line.
  const program = chaosProgram().exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));
  program.parse();
  const o = program.opts<Omit<ChaosOptions, 'seed' | 'keep' | 'json'> & { seed?: number; keep?: boolean; json?: boolean }>();
  const options: ChaosOptions = { ...o, seed: o.seed ?? randomInt(2 ** 31 - 1), keep: Boolean(o.keep), json: Boolean(o.json) };
  const say = (line: string) => process.stderr.write(`${new Date().toISOString()} chaos: ${line}\n`);
  let code: number;
  const interrupt = () => process.exit(130);
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    code = await runChaos(options, say);
  } catch (e) {
    process.stderr.write(`chaos: ${(e as Error).message}\n`);
    code = 1;
  }
  process.exit(code);
}

if (require.main === module) void main();
