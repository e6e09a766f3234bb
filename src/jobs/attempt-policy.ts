import { BackoffPolicy, retryDelaySeconds } from './backoff';

/** How an attempt ended, as its worker (or the lease reaper) tells it. */
export interface AttemptEnd {
  exitCode: number | null;
  /** The signal that ended the command, e.g. SIGKILL. */
  signal: string | null;
  /** Set when the end was decided outside the command: timeout, cancelled, worker lost… */
  error: string | null;
}

/** The job as the policy needs it. */
export interface JobBudget {
  attempts: number;
  max_retries: number;
  backoff_base: number | null;
  cancel_requested: number;
}

export type Verdict =
  | { kind: 'complete' }
  | { kind: 'retry'; dueAt: number; reason: string }
  | { kind: 'bury'; reason: string };

/** The reason kept for a failed attempt, or null when the attempt succeeded (exit 0, nothing else). */
export function failureReason(end: AttemptEnd): string | null {
  if (end.error) return end.error;
  if (end.signal) return `killed by ${end.signal}`;
  if (end.exitCode === 0) return null;
  if (end.exitCode === 127) return 'command not found (exit code 127)';
  if (end.exitCode === 126) return 'command not executable (exit code 126)';
  if (end.exitCode === null) return 'ended without an exit status';
  return `exit code ${end.exitCode}`;
}

/**
 * What happens to a job after an attempt: completed on success; dead when it was cancelled or no
 * retries are left (attempts > max_retries, so max_retries + 1 runs in all); otherwise failed and
 * due again after backoff_base ^ attempts seconds. Pure: time and randomness are inputs.
 */
export function judgeAttempt(
  job: JobBudget,
  end: AttemptEnd,
  backoff: BackoffPolicy,
  now: number,
  random: () => number = Math.random,
): Verdict {
  const reason = failureReason(end);
  if (reason === null) return { kind: 'complete' };
  if (Number(job.cancel_requested)) return { kind: 'bury', reason: 'cancelled' };
  if (Number(job.attempts) > Number(job.max_retries)) return { kind: 'bury', reason };
  const policy = { ...backoff, base: job.backoff_base ?? backoff.base };
  return { kind: 'retry', dueAt: now + Math.round(retryDelaySeconds(Number(job.attempts), policy, random) * 1000), reason };
}
