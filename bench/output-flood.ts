/**
 * One job that prints a lot of output, with a large output limit: what storing it costs.
 *
 *   node dist/bench/output-flood.js [--bytes 1073741824] [--limit 67108864]
 *
 * Measures, for a fresh service and one worker: the time from enqueue to `completed`, the
 * service's peak resident memory (VmHWM), the largest size the SQLite WAL reached (sampled every
 * 20 ms), and the bytes the service process wrote (/proc/<pid>/io: wchar, all write calls, and
 * write_bytes, what reached the block layer).
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, benchEnv, call, startService } from './bench-support';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function procField(pid: number, file: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const bytes = arg('bytes', 1024 * MiB);
  const limit = arg('limit', 64 * MiB);
  const svc = await startService();
  const pid = svc.process.pid!;
  const worker = spawn(process.execPath, [CLI, 'worker', 'start'], { env: benchEnv(svc.home), stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await call(svc, 'PUT', '/api/config/output-limit', { value: limit });
    const wal = join(svc.home, 'queue.db-wal');
    const rssBefore = procField(pid, 'status', 'VmHWM');
    const ioBefore = { wchar: procField(pid, 'io', 'wchar'), write: procField(pid, 'io', 'write_bytes') };
    let walPeak = 0;
    const sampler = setInterval(() => (walPeak = Math.max(walPeak, fileSize(wal))), 20);
    const started = Date.now();
    await call(svc, 'POST', '/api/jobs', { id: 'flood', command: `head -c ${bytes} /dev/zero | tr '\\0' x` });
    let job: { state: string; runs: Array<{ output_bytes: number; output_truncated: boolean }> };
    for (;;) {
      job = await call(svc, 'GET', '/api/jobs/flood');
      if (job.state === 'completed' || job.state === 'dead') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    walPeak = Math.max(walPeak, fileSize(wal));
    const report = {
      printed_bytes: bytes,
      output_limit: limit,
      state: job.state,
      stored_bytes: job.runs[0]?.output_bytes,
      truncated: job.runs[0]?.output_truncated,
      seconds,
      service_peak_rss_mb: Math.round(procField(pid, 'status', 'VmHWM') / 1024),
      service_peak_rss_before_job_mb: Math.round(rssBefore / 1024),
      wal_peak_mb: Math.round(walPeak / MiB),
      service_wchar_mb: Math.round((procField(pid, 'io', 'wchar') - ioBefore.wchar) / MiB),
      service_write_bytes_mb: Math.round((procField(pid, 'io', 'write_bytes') - ioBefore.write) / MiB),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    const gone = new Promise((r) => worker.once('exit', r));
    worker.kill('SIGTERM');
    await gone;
    await svc.stop();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
