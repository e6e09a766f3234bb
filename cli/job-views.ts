import type { AttemptResponse, JobResponse } from '../src/jobs/job.mapper';
import type { JobDetail } from '../src/jobs/jobs.service';
import { escapeControls } from './terminal-text';
import { duration, fields, localTime, relativeTime, shorten, table } from './render';

/** How jobs look to people: the list table and the detail page of `show`. */

export type { AttemptResponse, JobDetail, JobResponse };

/** "1/4": attempts started out of the most the job may get (the first run plus its retries). */
export function attemptsOf(job: Pick<JobResponse, 'attempts' | 'max_retries'>): string {
  return `${job.attempts}/${job.max_retries + 1}`;
}

export function jobTable(jobs: JobResponse[], now = Date.now()): string {
  if (jobs.length === 0) return 'no jobs';
  return table(
    ['id', 'queue', 'state', 'attempts', 'priority', 'updated', 'command'],
    jobs.map((j) => [j.id, shorten(j.queue ?? 'default', 20), stateOf(j), attemptsOf(j), j.priority, relativeTime(j.updated_at, now), shorten(j.command)]),
  );
}

/** The DLQ: why each job ended up there (its last error) next to what it ran. */
export function deadJobTable(jobs: JobResponse[], now = Date.now()): string {
  if (jobs.length === 0) return 'no dead jobs';
  return table(
    ['id', 'state', 'attempts', 'updated', 'last error', 'command'],
    jobs.map((j) => [j.id, j.state, attemptsOf(j), relativeTime(j.updated_at, now), shorten(j.last_error ?? '-', 40), shorten(j.command, 40)]),
  );
}

/** The state with what people want to know next: when a retry or a scheduled job is due. */
function stateOf(job: JobResponse): string {
  if (job.state === 'failed' && job.next_run_at) return `failed (retry ${relativeTime(job.next_run_at)})`;
  if (job.state === 'pending' && job.run_at && Date.parse(job.run_at) > Date.now()) return `pending (${relativeTime(job.run_at)})`;
  if (job.state === 'processing' && job.cancel_requested) return 'processing (cancelling)';
  if (job.state === 'pending' && job.waiting_on?.length) return `pending (waits on ${shorten(job.waiting_on.join(', '), 40)})`;
  return job.state;
}

export function jobDetail(job: JobDetail, now = Date.now()): string {
  const pairs: Array<[string, string | number]> = [
    ['id', job.id],
    ['command', job.command.includes('\n') ? JSON.stringify(job.command) : job.command],
    ['state', stateOf(job)],
    ['attempts', `${attemptsOf(job)} (max_retries ${job.max_retries})`],
    ['priority', job.priority],
    ['queue', job.queue ?? 'default'],
  ];
  pairs.push(...flowPairs(job));
  if (job.run_at) pairs.push(['run at', localTime(job.run_at, now)]);
  if (job.next_run_at) pairs.push(['next run', localTime(job.next_run_at, now)]);
  pairs.push(['timeout', job.timeout_seconds ? `${job.timeout_seconds}s` : 'config job-timeout']);
  pairs.push(['backoff base', job.backoff_base ?? 'config backoff-base']);
  if (job.worker_id) pairs.push(['worker', job.worker_id]);
  if (job.exit_code !== null) pairs.push(['exit code', job.exit_code]);
  if (job.last_error) pairs.push(['last error', shorten(job.last_error, 200)]);
  pairs.push(['created', localTime(job.created_at, now)], ['updated', localTime(job.updated_at, now)]);
  if (job.started_at) pairs.push(['started', localTime(job.started_at, now)]);
  if (job.finished_at) pairs.push(['finished', localTime(job.finished_at, now)]);
  if (job.duration_ms !== null) pairs.push(['duration', duration(job.duration_ms)]);
  return `${fields(pairs)}\n\n${runsTable(job.runs ?? [], now)}`;
}

/**
 * Where and how the command runs, and what it waits on. Variables show by name only, as on the
 * dashboard: a screen is read over shoulders; `show --json` has the values.
 */
function flowPairs(job: JobDetail): Array<[string, string]> {
  const pairs: Array<[string, string]> = [['cwd', job.cwd === null || job.cwd === undefined ? "(the worker's own)" : escapeControls(job.cwd)]];
  const names = Object.keys(job.env ?? {});
  if (names.length > 0) pairs.push(['env', `${names.join(', ')} (values: show --json)`]);
  if (job.after?.length) {
    const waiting = new Set(job.waiting_on);
    pairs.push(['after', job.after.map((id) => (waiting.has(id) ? `${id} (waiting)` : id)).join(', ')]);
  }
  if (job.dependents?.length) pairs.push(['waited on by', job.dependents.join(', ')]);
  return pairs;
}

function runsTable(runs: AttemptResponse[], now: number): string {
  if (runs.length === 0) return 'runs: none yet';
  const rows = runs.map((r) => [
    r.attempt,
    r.worker_id ?? '-',
    relativeTime(r.started_at, now),
    r.finished_at ? duration(r.duration_ms) : 'running',
    r.exit_code ?? '-',
    `${r.output_bytes}${r.output_truncated ? ' (cut)' : ''}`,
    r.error ? shorten(r.error, 50) : '-',
  ]);
  return `runs:\n${table(['attempt', 'worker', 'started', 'duration', 'exit', 'output bytes', 'error'], rows)}`;
}
