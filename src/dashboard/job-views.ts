import { VisibleText } from '../../cli/terminal-bytes';
import { JobResponse } from '../jobs/job.mapper';
import { JobDetail } from '../jobs/jobs.service';
import { JOB_STATES } from '../jobs/job-state';
import { formatAgo, formatBytes, formatDuration } from './view-format';

/** How jobs read on the dashboard's pages: the service's JSON form, made legible. */

const FINAL = new Set(['completed', 'dead']);
/** The job page shows the end of each run's output; `queuectl logs` has all of it. */
export const OUTPUT_SHOWN = 64 * 1024;

export function jobPath(id: string): string {
  return `/jobs/${encodeURIComponent(id)}`;
}

export function jobRowView(job: JobResponse, now: number) {
  return {
    id: job.id,
    href: jobPath(job.id),
    command: job.command,
    state: job.state,
    attempts: `${job.attempts} / ${job.max_retries + 1}`,
    priority: job.priority,
    created: formatAgo(job.created_at, now),
    createdAt: job.created_at,
    updated: formatAgo(job.updated_at, now),
    updatedAt: job.updated_at,
    lastError: job.last_error,
    nextRun: job.next_run_at ? formatAgo(job.next_run_at, now) : null,
    duration: formatDuration(job.duration_ms),
  };
}

/** The end of a run's output: bytes `offset` to `end` (all that is stored) of it. */
export interface RunOutput {
  data: Buffer;
  offset: number;
  end: number;
  truncated: boolean;
}

/**
 * Output as the page shows it: decoded as UTF-8, with bytes that are not UTF-8 and control
 * characters (terminal escapes, NUL) shown as `\x1b`-style escapes; Handlebars then escapes it
 * for HTML. A window that starts inside a character starts at the next one; while the run goes
 * on, a character whose last bytes are not stored yet waits for the next refresh.
 */
function shownOutput(out: RunOutput, running: boolean): string {
  let skip = 0;
  if (out.offset > 0) while (skip < 3 && skip < out.data.length && (out.data[skip] & 0xc0) === 0x80) skip++;
  const text = new VisibleText();
  return text.write(out.data.subarray(skip)) + (running ? '' : text.end());
}

export function jobDetailView(job: JobDetail, outputs: Map<number, RunOutput>, now: number) {
  const runs = job.runs.map((r, i) => {
    const out = outputs.get(r.run);
    const cut = out !== undefined && out.offset > 0;
    return {
      run: r.run,
      attempt: r.attempt,
      worker: r.worker_id ?? '—',
      started: formatAgo(r.started_at, now),
      startedAt: r.started_at,
      duration: r.finished_at ? formatDuration(r.duration_ms) : `running for ${formatDuration(now - Date.parse(r.started_at))}`,
      running: r.finished_at === null,
      exitCode: r.exit_code ?? '—',
      ok: r.finished_at !== null && r.exit_code === 0 && !r.error,
      error: r.error,
      output: out ? shownOutput(out, r.finished_at === null) : '',
      outputNote: [
        cut ? `showing the last ${formatBytes(out.end - out.offset)} of ${formatBytes(out.end)}; queuectl logs ${job.id} --attempt ${r.attempt} has it all` : '',
        out?.truncated ? 'the output passed the output limit and was cut there' : '',
      ].filter(Boolean),
      empty: !out || out.end === 0,
      outputLoaded: out !== undefined,
      // The newest run is open; older ones fold away.
      open: i === job.runs.length - 1,
    };
  });
  return {
    ...jobRowView(job, now),
    maxRetries: job.max_retries,
    queue: job.queue,
    queueHref: `/queues#queue-${encodeURIComponent(job.queue)}`,
    runAt: job.run_at,
    timeout: job.timeout_seconds ? `${job.timeout_seconds} s` : 'default',
    workerId: job.worker_id,
    exitCode: job.exit_code === null ? '—' : String(job.exit_code),
    started: formatAgo(job.started_at, now),
    finished: formatAgo(job.finished_at, now),
    cancelRequested: job.cancel_requested,
    // Still offered once asked: a cancel that reached no worker yet can be asked again.
    canCancel: ['pending', 'failed', 'processing'].includes(job.state),
    canRetry: job.state === 'dead',
    final: FINAL.has(job.state),
    runs: [...runs].reverse(),
    // Job flows. Variables by name only: their values may be secrets, and a page is seen by more
    // eyes than a terminal (the API and `show --json` give them to the token holder).
    cwd: job.cwd,
    envNames: Object.keys(job.env ?? {}),
    after: job.after.map((id) => ({ id, href: jobPath(id), waiting: job.waiting_on.includes(id) })),
    dependents: job.dependents.map((id) => ({ id, href: jobPath(id) })),
  };
}

/** The state filter's options, the current one selected. */
export function stateOptions(current: string | undefined) {
  return [{ value: '', label: 'all states', selected: !current }, ...JOB_STATES.map((s) => ({ value: s, label: s, selected: s === current }))];
}

/** A page URL with these query parameters, empty ones left out. */
export function withQuery(path: string, params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
