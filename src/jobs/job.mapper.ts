import { toIso } from '../common/clock';
import { JobFlow } from './job-dependencies.repository';
import { AttemptRow, JobRow } from './job-row';

/** The JSON form of a job, for the API and the CLI's --json. */
export interface JobResponse {
  id: string;
  command: string;
  queue: string;
  state: string;
  attempts: number;
  max_retries: number;
  priority: number;
  run_at: string | null;
  next_run_at: string | null;
  timeout_seconds: number | null;
  backoff_base: number | null;
  last_error: string | null;
  exit_code: number | null;
  worker_id: string | null;
  cancel_requested: boolean;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  created_at: string;
  updated_at: string;
  /** Job flows: the directory the command runs in (null: the worker's own), its added variables. */
  cwd: string | null;
  env: Record<string, string>;
  /** The ids this job waits on, and those of them not completed yet (empty unless it is pending). */
  after: string[];
  waiting_on: string[];
}

export interface AttemptResponse {
  run: number;
  attempt: number;
  worker_id: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  error: string | null;
  output_bytes: number;
  output_truncated: boolean;
}

const n = (v: number | null) => (v === null || v === undefined ? null : Number(v));

const NO_FLOW: JobFlow = { after: [], waiting_on: [] };

export function toJobResponse(row: JobRow, flow: JobFlow = NO_FLOW): JobResponse {
  const finished = row.state === 'completed' || row.state === 'dead' || row.state === 'failed';
  return {
    id: row.id,
    command: row.command,
    queue: row.queue,
    state: row.state,
    attempts: Number(row.attempts),
    max_retries: Number(row.max_retries),
    priority: Number(row.priority),
    run_at: toIso(row.run_at),
    next_run_at: row.state === 'failed' ? toIso(row.due_at) : null,
    timeout_seconds: n(row.timeout_seconds),
    backoff_base: n(row.backoff_base),
    last_error: row.last_error,
    exit_code: n(row.exit_code),
    worker_id: row.worker_id,
    cancel_requested: Boolean(Number(row.cancel_requested)),
    started_at: toIso(row.started_at),
    finished_at: finished ? toIso(row.finished_at) : null,
    duration_ms: finished && row.started_at !== null && row.finished_at !== null ? Number(row.finished_at) - Number(row.started_at) : null,
    created_at: toIso(row.created_at)!,
    updated_at: toIso(row.updated_at)!,
    cwd: row.cwd ?? null,
    env: row.env ? (JSON.parse(row.env) as Record<string, string>) : {},
    after: flow.after,
    waiting_on: flow.waiting_on,
  };
}

export function toAttemptResponse(row: AttemptRow): AttemptResponse {
  return {
    run: Number(row.run),
    attempt: Number(row.attempt),
    worker_id: row.worker_id,
    started_at: toIso(row.started_at)!,
    finished_at: toIso(row.finished_at),
    duration_ms: row.finished_at === null ? null : Number(row.finished_at) - Number(row.started_at),
    exit_code: n(row.exit_code),
    error: row.error,
    output_bytes: Number(row.output_bytes),
    output_truncated: Boolean(Number(row.output_truncated)),
  };
}
