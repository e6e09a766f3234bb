import { JobState } from './job-state';

/** A row of `jobs` as the database returns it (times in epoch milliseconds). */
export interface JobRow {
  id: string;
  seq: number;
  command: string;
  state: JobState;
  attempts: number;
  max_retries: number;
  priority: number;
  run_at: number | null;
  due_at: number;
  timeout_seconds: number | null;
  backoff_base: number | null;
  last_error: string | null;
  exit_code: number | null;
  worker_id: string | null;
  lease: number;
  lease_expires_at: number | null;
  cancel_requested: number;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  queue: string;
  /** Job flows: the directory the command runs in (null: the worker's own) and its variables as JSON text. */
  cwd: string | null;
  env: string | null;
}

/** A row of `job_attempts`: one run of a job's command. `run` is its fencing value, unique in the queue for its whole life. */
export interface AttemptRow {
  job_id: string;
  run: number;
  attempt: number;
  worker_id: string | null;
  started_at: number;
  finished_at: number | null;
  exit_code: number | null;
  error: string | null;
  output_bytes: number;
  output_truncated: number;
}

/** What enqueue stores for a new job. */
export interface NewJob {
  id: string;
  command: string;
  maxRetries: number;
  priority: number;
  runAt: number | null;
  timeoutSeconds: number | null;
  backoffBase: number | null;
  /** Default: `default`. */
  queue?: string;
  /** Job flows: where and how the command runs, and the ids it waits on. */
  cwd?: string | null;
  env?: Record<string, string> | null;
  after?: string[];
  /** Waits on a job not completed yet: stored not due (see BLOCKED_DUE_AT). */
  blocked?: boolean;
}

/**
 * A NewJob as enqueue makes it, before its unit of work: one given no max retries of its own
 * takes its queue's, else the global setting, read in the unit that inserts it
 * (JobsService.insertGroups).
 */
export type DraftJob = Omit<NewJob, 'maxRetries'> & { maxRetries?: number };

/** How an attempt ended, as its worker reported it (or as the reaper decided). */
export interface AttemptOutcome {
  exitCode: number | null;
  /** Empty when the command exited 0. */
  error: string | null;
}
