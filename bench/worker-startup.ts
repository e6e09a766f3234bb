/**
 * node dist/bench/worker-startup.js [runs] [jobs] [count]: how long `worker start` takes to reach
 * its jobs. Each run starts a fresh service, enqueues `jobs` `true` jobs (default 200), launches
 * `worker start --count <count>` (default 4) and times, from the launch: the first job's
 * started_at, the moment every worker process had started its first job, and the last job's
 * finished_at. Beside them, in the same run, the time `node -e 0` takes from spawn to exit: the
 * floor under any Node process's start-up, and the first two times in units of it (a ratio that
 * moves less than the times with the machine's load). Prints one line a run on stderr and the
 * medians as JSON on stdout, in ms.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { CLI, Service, benchEnv, call, enqueueBatches, median, startService } from './bench-support';

interface Sample {
  floor: number;
  firstJob: number;
  everyProcess: number;
  allDone: number;
}

interface JobTimes {
  worker_id: string | null;
  started_at: string;
  finished_at: string;
}

/** From spawn to exit of `node -e 0`: the median of `samples`. */
async function nodeFloor(samples: number): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
    out.push(performance.now() - t0);
  }
  return median(out);
}

async function allJobs(svc: Service): Promise<JobTimes[]> {
  const jobs: JobTimes[] = [];
  let cursor: number | null = null;
  do {
    const page: { jobs: JobTimes[]; next_cursor: number | null } = await call(svc, 'GET', `/api/jobs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    jobs.push(...page.jobs);
    cursor = page.next_cursor;
  } while (cursor);
  return jobs;
}

async function oneRun(jobs: number, count: number): Promise<Sample> {
  const svc = await startService();
  try {
    await enqueueBatches(svc, jobs);
    const floor = await nodeFloor(5);
    // Job timestamps are the service's wall clock, on this machine: the launch is taken on the same clock.
    const launched = Date.now();
    const child = spawn(process.execPath, [CLI, 'worker', 'start', '--count', String(count)], { env: benchEnv(svc.home), stdio: ['ignore', 'ignore', 'pipe'] });
    // The workers' log is shown only if they fail.
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    const deadline = Date.now() + 120_000;
    while ((await call(svc, 'GET', '/api/status')).counts.completed < jobs) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the workers did not finish the jobs:\n${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGTERM');
    await exited;
    const done = await allJobs(svc);
    const firstByWorker = new Map<string, number>();
    for (const j of done) {
      const at = Date.parse(j.started_at);
      const id = j.worker_id ?? '';
      firstByWorker.set(id, Math.min(firstByWorker.get(id) ?? Infinity, at));
    }
    return {
      floor,
      firstJob: Math.min(...firstByWorker.values()) - launched,
      everyProcess: Math.max(...firstByWorker.values()) - launched,
      allDone: Math.max(...done.map((j) => Date.parse(j.finished_at))) - launched,
    };
  } finally {
    await svc.stop();
  }
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 7);
  const jobs = Number(process.argv[3] ?? 200);
  const count = Number(process.argv[4] ?? 4);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const s = await oneRun(jobs, count);
    samples.push(s);
    process.stderr.write(
      `run ${i + 1}: node -e 0 ${s.floor.toFixed(0)} ms; from launch: first job ${s.firstJob} ms, every process running ${s.everyProcess} ms, ` +
        `${jobs} jobs done ${s.allDone} ms (load ${loadavg()[0].toFixed(2)})\n`,
    );
  }
  const of = (key: keyof Sample) => Math.round(median(samples.map((s) => s[key])));
  const floors = (key: keyof Sample) => Number(median(samples.map((s) => s[key] / s.floor)).toFixed(2));
  process.stdout.write(
    JSON.stringify({
      runs,
      jobs,
      count,
      floor: of('floor'),
      firstJob: of('firstJob'),
      everyProcess: of('everyProcess'),
      allDone: of('allDone'),
      firstJobFloors: floors('firstJob'),
      everyProcessFloors: floors('everyProcess'),
    }) + '\n',
  );
}

void main();
