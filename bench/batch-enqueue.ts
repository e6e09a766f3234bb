/**
 * `node dist/bench/batch-enqueue.js [--db sqlite|postgres] [--jobs 10000] [--batches 3] [--services 3] [--distinct] [--answer full|minimal|both]`:
 * POST /api/jobs/batch of `--jobs` jobs `{ command: 'true' }` (with --distinct, `echo <i>`: no two
 * alike), `--batches` times on each of `--services` fresh services, one after another on one
 * connection. `--answer minimal` sends `Prefer: return=minimal` (the answer is the ids alone);
 * `both` alternates the two from one service to the next, and sums each up apart. For each
 * batch: the time to the whole answer, jobs/s, and the CPU the service spent on it, on its event loop and on all its threads (SQLite's, the garbage collector's, the
 * compilers'); on PostgreSQL also its backends' (from /proc: in hundredths of a second). Batch 1 is the one the peer benchmark times: a
 * service just started, its code not yet compiled by V8 for speed.
 */
import { Service, benchOption, median, startService } from './bench-support';
import { DEFAULT_POSTGRES_URL, backendCpu, backendCpuDelta, freshSchema, startReplicas } from './bench-postgres';
import { threadCpuMs } from './cpu-seconds';

type Answer = 'full' | 'minimal';

interface BatchResult {
  batch: number;
  answer: Answer;
  ms: number;
  jobsPerSecond: number;
  serviceMainCpuMs: number;
  serviceAllCpuMs: number;
  databaseCpuMs?: number;
}

async function oneBatch(svc: Service, jobs: Array<{ command: string }>, answer: Answer, databaseUrl?: string): Promise<Omit<BatchResult, 'batch' | 'answer'>> {
  const body = JSON.stringify({ jobs });
  const pid = svc.process.pid!;
  const backends0 = databaseUrl ? await backendCpu(databaseUrl) : undefined;
  const cpu0 = threadCpuMs(pid);
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${svc.url}/api/jobs/batch`, { method: 'POST', headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/json', ...(answer === 'minimal' ? { prefer: 'return=minimal' } : {}) }, body });
  await res.arrayBuffer();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 201) throw new Error(`POST /api/jobs/batch: HTTP ${res.status}`);
  // The service has answered; what its threads finish after (a collection, a compile) is counted too.
  await new Promise((r) => setTimeout(r, 50));
  const cpu1 = threadCpuMs(pid);
  const databaseCpuMs = backends0 ? backendCpuDelta(backends0, await backendCpu(databaseUrl!)) * 1000 : undefined;
  return { ms, jobsPerSecond: (jobs.length * 1000) / ms, serviceMainCpuMs: cpu1.main - cpu0.main, serviceAllCpuMs: cpu1.all - cpu0.all, databaseCpuMs };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const db = benchOption('db', 'sqlite');
  const count = Number(benchOption('jobs', '10000'));
  const batches = Number(benchOption('batches', '3'));
  const services = Number(benchOption('services', '3'));
  const distinct = argv.includes('--distinct');
  const baseUrl = benchOption('db-url', DEFAULT_POSTGRES_URL);
  const answers = benchOption('answer', 'full');
  if (answers !== 'full' && answers !== 'minimal' && answers !== 'both') throw new Error('--answer must be full, minimal or both');
  const results: BatchResult[] = [];
  for (let s = 0; s < services; s++) {
    const schema = db === 'postgres' ? freshSchema(baseUrl) : undefined;
    // On PostgreSQL as a named replica, so that its backends' CPU can be found.
    const svc = schema ? (await startReplicas(schema, 1))[0] : await startService();
    const answer: Answer = answers === 'both' ? (s % 2 === 0 ? 'full' : 'minimal') : answers;
    try {
      for (let b = 1; b <= batches; b++) {
        const jobs = Array.from({ length: count }, (_, i) => ({ command: distinct ? `echo ${b}-${i}` : 'true' }));
        const r = { batch: b, answer, ...(await oneBatch(svc, jobs, answer, schema ? baseUrl : undefined)) };
        results.push(r);
        process.stdout.write(`${JSON.stringify({ db, jobs: count, distinct, service: s + 1, ...r })}\n`);
      }
    } finally {
      await svc.stop();
      await schema?.drop();
    }
  }
  for (const answer of ['full', 'minimal'] as const)
    for (let b = 1; b <= batches; b++) {
      const of = results.filter((r) => r.batch === b && r.answer === answer);
      if (of.length === 0) continue;
      const m = (pick: (r: BatchResult) => number | undefined) => Number(median(of.map((r) => pick(r) ?? 0)).toFixed(1));
      process.stdout.write(
        `${answer} answer, batch ${b}, medians of ${of.length}: ${m((r) => r.jobsPerSecond).toFixed(0)} jobs/s, ${m((r) => r.ms)} ms, service CPU ${m((r) => r.serviceMainCpuMs)} ms event loop / ${m((r) => r.serviceAllCpuMs)} ms all threads` +
          `${db === 'postgres' ? `, PostgreSQL backends ${m((r) => r.databaseCpuMs)} ms` : ''}\n`,
      );
    }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
