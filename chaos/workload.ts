import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, Endpoint, request } from '../cli/http';
import { Rng } from './rng';

/**
 * The jobs of a chaos run. Every command is one bash script that writes its life to the run log,
 * one line per event, each line a single O_APPEND write (bash's echo writes a short line at once),
 * so the lines of concurrent commands never interleave:
 *
 *   <job id> <run> start <ns> <worker> <attempt>
 *   <job id> <run> tick <ns>          (long jobs, every TICK_MS while they run)
 *   <job id> <run> end <ns>           (the command's work is done; it exits right after)
 *
 * <run> is QUEUECTL_JOB_RUN, the run's fencing value; <ns> the wall clock in nanoseconds
 * (bash's EPOCHREALTIME: microseconds, without forking `date` twice per job); <worker> names the
 * `worker start` process, from the environment the harness gave it and the command inherits.
 */

export type JobKind = 'quick' | 'long' | 'flaky' | 'doomed';

export interface PlannedJob {
  id: string;
  kind: JobKind;
  /** Long jobs: how many ticks (of TICK_MS) the command runs. */
  ticks: number;
  maxRetries: number;
  /** Epoch ms; jobs are spread over the fault period so there is work throughout. */
  runAt: number;
}

export const TICK_MS = 250;
/** Exit code of a failing attempt. */
export const FAIL_EXIT = 3;
export const LOG_NAME = 'runs.log';
const SCRIPT_NAME = 'job.sh';

/**
 * The mix: mostly quick jobs, some that fail once, some that always fail, and `longShare` of long
 * ones, 1 to 10 s: longer than a lease of a few seconds, so a run recovered while its command still
 * runs can overlap the next one.
 */
export function planJobs(count: number, rng: Rng, firstAt: number, spreadMs: number, longShare: number): PlannedJob[] {
  const mix: Array<{ kind: JobKind; weight: number; maxRetries: number }> = [
    { kind: 'long', weight: longShare, maxRetries: 5 },
    { kind: 'flaky', weight: 0.09, maxRetries: 5 },
    { kind: 'doomed', weight: 0.05, maxRetries: 1 },
    { kind: 'quick', weight: Math.max(0, 0.86 - longShare), maxRetries: 5 },
  ];
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => {
    const { kind, maxRetries } = rng.weighted(mix);
    return {
      id: `c${String(i).padStart(width, '0')}`,
      kind,
      ticks: kind === 'long' ? rng.int(4, 40) : 0,
      maxRetries,
      runAt: firstAt + rng.int(0, Math.max(0, Math.floor(spreadMs))),
    };
  });
}

/** The exit code a run of `job` at `attempt` chooses when it runs to its end. */
export function plannedExit(job: PlannedJob, attempt: number): number {
  if (job.kind === 'doomed') return FAIL_EXIT;
  if (job.kind === 'flaky' && attempt <= 1) return FAIL_EXIT;
  return 0;
}

/** Writes the job script into `dir` (the run log goes beside it) and returns its path. */
export function writeJobScript(dir: string): string {
  const path = join(dir, SCRIPT_NAME);
  writeFileSync(
    path,
    `#!/usr/bin/env bash
# queuectl chaos job: $1 = quick|long|flaky|doomed, $2 = ticks (long jobs)
log=\${0%/*}/${LOG_NAME}
id=$QUEUECTL_JOB_ID run=$QUEUECTL_JOB_RUN
ns() { t=\${EPOCHREALTIME//[!0-9]/}000; }
ns; echo "$id $run start $t \${CHAOS_WORKER:--} $QUEUECTL_JOB_ATTEMPT" >> "$log"
if [ "$1" = long ]; then
  for ((i = 0; i < $2; i++)); do sleep ${TICK_MS / 1000}; ns; echo "$id $run tick $t" >> "$log"; done
fi
ns; echo "$id $run end $t" >> "$log"
case $1 in
  doomed) exit ${FAIL_EXIT} ;;
  flaky) [ "$QUEUECTL_JOB_ATTEMPT" -gt 1 ] || exit ${FAIL_EXIT} ;;
esac
exit 0
`,
  );
  chmodSync(path, 0o755);
  return path;
}

export function jobCommand(script: string, job: PlannedJob): string {
  return job.kind === 'long' ? `'${script}' long ${job.ticks}` : `'${script}' ${job.kind}`;
}

/** Enqueues every job, in batches, before any fault: every one of them is acknowledged. */
export async function enqueueJobs(endpoint: Endpoint, jobs: PlannedJob[], script: string): Promise<void> {
  const BATCH = 1000;
  for (let i = 0; i < jobs.length; i += BATCH) {
    const batch = jobs.slice(i, i + BATCH).map((j) => ({
      id: j.id,
      command: jobCommand(script, j),
      max_retries: j.maxRetries,
      // Retries are due 1 s after a failure: the run is about faults, not backoff.
      backoff_base: 1,
      run_at: new Date(j.runAt).toISOString(),
    }));
    await request(endpoint, 'POST', '/api/jobs/batch', { body: { jobs: batch }, timeoutMs: 60_000 });
  }
}

/** How long a lone enqueue is tried again before the run gives up on the service. */
const LONE_TRIES_MS = 300_000;

/**
 * Enqueues `jobs` one request each, each when it falls due (no run_at), while the faults run: the
 * path of a lone job, handed to a waiting worker or not, under the same faults as the rest. An
 * enqueue answered by neither a job nor a refusal (no answer, a 5xx) may or may not have stored
 * it: it is sent again with the same id until the service answers 201 (stored now) or 409 (stored
 * by an earlier try), so every job ends acknowledged, as the batches' are. Answers how many tries
 * were sent again.
 */
export async function enqueueLoneJobs(endpoint: Endpoint, jobs: PlannedJob[], script: string): Promise<number> {
  let again = 0;
  for (const j of [...jobs].sort((a, b) => a.runAt - b.runAt)) {
    const wait = j.runAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const body = { id: j.id, command: jobCommand(script, j), max_retries: j.maxRetries, backoff_base: 1 };
    const giveUpAt = Date.now() + LONE_TRIES_MS;
    for (;;) {
      try {
        await request(endpoint, 'POST', '/api/jobs', { body, timeoutMs: 10_000 });
        break;
      } catch (e) {
        if (e instanceof ApiError && e.status === 409) break;
        if (e instanceof ApiError && e.status < 500) throw e;
        if (Date.now() > giveUpAt) throw new Error(`job ${j.id}: not acknowledged within ${LONE_TRIES_MS / 1000} s: ${(e as Error).message}`);
        again++;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
  return again;
}
