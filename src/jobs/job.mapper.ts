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

/**
 * The JSON text of `{"jobs": [...]}` for rows answered without flows: exactly the text of
 * `JSON.stringify({ jobs: rows.map((r) => toJobResponse(r)) })`. The rows of a batch just
 * enqueued usually differ in their id and command alone; their answers are then one answer made
 * once, with each row's id and command put in. Making and serializing an answer object per row
 * cost twice as much, and the answer of a 10,000-job batch lists all of them.
 */
export function jobListJson(rows: JobRow[]): string {
  const parts = rows.length > 1 && rows.every((r) => sameAnswerButIdAndCommand(r, rows[0])) ? answerParts(rows[0]) : undefined;
  if (!parts) return JSON.stringify({ jobs: rows.map((r) => toJobResponse(r)) });
  const [head, middle, tail] = parts;
  let text = '{"jobs":[';
  for (let i = 0; i < rows.length; i++) {
    text += `${i === 0 ? '' : ','}${head}${JSON.stringify(rows[i].id)}${middle}${JSON.stringify(rows[i].command)}${tail}`;
  }
  return `${text}]}`;
}

/**
 * Every field but id, command and seq (not answered) is the same. Written out rather than looped
 * over keys: a loop over keys cost as much as the serialization it saves. A field added to JobRow
 * must be added here; job.mapper.spec.ts changes each field in turn and fails until it is.
 */
function sameAnswerButIdAndCommand(a: JobRow, b: JobRow): boolean {
  return (
    a.state === b.state &&
    a.attempts === b.attempts &&
    a.max_retries === b.max_retries &&
    a.priority === b.priority &&
    a.run_at === b.run_at &&
    a.due_at === b.due_at &&
    a.timeout_seconds === b.timeout_seconds &&
    a.backoff_base === b.backoff_base &&
    a.last_error === b.last_error &&
    a.exit_code === b.exit_code &&
    a.worker_id === b.worker_id &&
    a.lease === b.lease &&
    a.lease_expires_at === b.lease_expires_at &&
    a.cancel_requested === b.cancel_requested &&
    a.created_at === b.created_at &&
    a.updated_at === b.updated_at &&
    a.started_at === b.started_at &&
    a.finished_at === b.finished_at &&
    a.queue === b.queue &&
    a.cwd === b.cwd &&
    a.env === b.env
  );
}

/** Marks no id or command can hold (neither admits a NUL), each written once in an answer. */
const ID_MARK = JSON.stringify('\u0000id\u0000');
const COMMAND_MARK = JSON.stringify('\u0000command\u0000');

/** The answer of `row` cut where its id and where its command go; undefined if the cut is not clean. */
function answerParts(row: JobRow): [string, string, string] | undefined {
  const text = JSON.stringify(toJobResponse({ ...row, id: JSON.parse(ID_MARK) as string, command: JSON.parse(COMMAND_MARK) as string }));
  const [head, rest, ...more] = text.split(ID_MARK);
  if (rest === undefined || more.length > 0) return undefined;
  const [middle, tail, ...after] = rest.split(COMMAND_MARK);
  if (tail === undefined || after.length > 0) return undefined;
  return [head, middle, tail];
}
