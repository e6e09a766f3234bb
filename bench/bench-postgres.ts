import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { cpuSeconds } from './cpu-seconds';
import { BenchDatabase, Service, startService } from './bench-support';

/** The PostgreSQL the benchmark uses unless --db-url names another; trust auth on loopback. */
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** application_name prefix of the benchmark's replicas, `<prefix>-r1`, `<prefix>-r2`… */
const REPLICA_PREFIX = `qbench${process.pid}`;

export interface BenchSchema extends BenchDatabase {
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

async function withClient<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, application_name: 'queuectl-bench-control' });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** A schema of its own on the server at `baseUrl`, created by the first service's migrations. */
export function freshSchema(baseUrl: string): BenchSchema {
  const schema = `bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  return {
    url: `${baseUrl}${baseUrl.includes('?') ? '&' : '?'}schema=${schema}`,
    token: randomBytes(24).toString('hex'),
    drop: () =>
      withClient(baseUrl, async (client) => {
        await client.query('SET client_min_messages = warning');
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      }),
  };
}

/** `count` service replicas on one database, started together (migrations run once, under their lock). */
export async function startReplicas(database: BenchDatabase, count: number): Promise<Service[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startService(database, `${REPLICA_PREFIX}-r${i + 1}`)));
  const services = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(services.map((s) => s.stop()));
    throw failed.reason;
  }
  return services;
}

/**
 * CPU seconds of the PostgreSQL backends serving the benchmark's replicas, per backend pid,
 * read from /proc (the server runs on this machine). Other users of the server (the machine
 * is shared) are not counted.
 */
export async function backendCpu(baseUrl: string): Promise<Map<number, number>> {
  const pids = await withClient(baseUrl, async (client) => {
    const r = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1', [`${REPLICA_PREFIX}-%`]);
    return r.rows.map((row) => row.pid);
  });
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      out.set(pid, cpuSeconds(pid).own);
    } catch {
      /* the backend ended meanwhile */
    }
  }
  return out;
}

/** CPU the backends spent between two readings (backends that appeared count from zero). */
export function backendCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
  return sum;
}
