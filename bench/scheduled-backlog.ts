/**
 * node dist/bench/scheduled-backlog.js [--scheduled 400000] [--jobs 2000] [--runs 3] [--db sqlite|postgres]:
 * shell jobs behind a backlog of jobs scheduled for later at a higher priority. Each run starts a
 * fresh service, enqueues `scheduled` jobs at priority 10 due in 2030, then `jobs` `true` jobs due
 * now at priority 0, and times `worker start --count 4` from its launch until every due job has
 * completed. Every claim must pass over the scheduled jobs to reach the due ones, so the rate shows
 * whether a claim reads them. With `--scheduled 0` the same run without the backlog, for the
 * ratio. Prints one line a run on stderr and the median rate as JSON on stdout.
 */
import { BenchDatabase, benchOption, call, enqueueBatches, median, startService, startWorkers, waitUntil } from './bench-support';
import { DEFAULT_POSTGRES_URL, freshSchema } from './bench-postgres';

const BATCH = 10_000;

async function oneRun(scheduled: number, jobs: number, database: BenchDatabase | undefined): Promise<number> {
  const svc = await startService(database);
  try {
    await enqueueBatches(svc, scheduled, { command: 'true', priority: 10, run_at: '2030-01-01T00:00:00Z' }, BATCH);
    await enqueueBatches(svc, jobs, { command: 'true' }, BATCH);
    const started = performance.now();
    const workers = startWorkers(svc, 4, database);
    try {
      await waitUntil(async () => (await call<{ counts: { completed: number } }>(svc, 'GET', '/api/status')).counts.completed >= jobs, 600_000, 50);
      return (jobs * 1000) / (performance.now() - started);
    } finally {
      await workers.stop();
    }
  } finally {
    await svc.stop();
  }
}

async function main(): Promise<void> {
  const scheduled = Number(benchOption('scheduled', '400000'));
  const jobs = Number(benchOption('jobs', '2000'));
  const runs = Number(benchOption('runs', '3'));
  const db = benchOption('db', 'sqlite');
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const schema = db === 'postgres' ? freshSchema(benchOption('db-url', DEFAULT_POSTGRES_URL)) : undefined;
    try {
      rates.push(await oneRun(scheduled, jobs, schema));
    } finally {
      await schema?.drop();
    }
    process.stderr.write(`run ${i + 1}: ${rates[i].toFixed(0)} jobs/s (${db}, ${scheduled} scheduled)\n`);
  }
  process.stdout.write(`${JSON.stringify({ db, scheduled, jobs, runs: rates.map(Math.round), jobsPerSecond: Math.round(median(rates)) })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
