export const JOB_STATES = ['pending', 'processing', 'completed', 'failed', 'dead'] as const;
export type JobState = (typeof JOB_STATES)[number];

/**
 * Every state change a job can make, in one place. The repository builds each compare-and-set
 * from this table: the expected states go into the WHERE clause, and an update that matches no
 * row means the job was not in one of them (a lost race or a wrong request, never a crash).
 */
export const TRANSITIONS = {
  claim: { from: ['pending', 'failed'], to: 'processing' },
  complete: { from: ['processing'], to: 'completed' },
  scheduleRetry: { from: ['processing'], to: 'failed' },
  bury: { from: ['processing'], to: 'dead' },
  // A job a worker claimed but never started (it was stopping): back to the queue, uncounted.
  // A cancelled one goes to the DLQ instead (dead, "cancelled"): a cancel is final.
  release: { from: ['processing'], to: 'pending' },
  cancel: { from: ['pending', 'failed'], to: 'dead' },
  retryDead: { from: ['dead'], to: 'pending' },
  purge: { from: ['completed', 'dead'], to: null },
} as const satisfies Record<string, { from: readonly JobState[]; to: JobState | null }>;

export type JobAction = keyof typeof TRANSITIONS;

export function canApply(action: JobAction, state: JobState): boolean {
  return (TRANSITIONS[action].from as readonly JobState[]).includes(state);
}

/** `'a', 'b'` for an IN (...) list; the values come from the table above, never from input. */
export function sqlStates(action: JobAction): string {
  return TRANSITIONS[action].from.map((s) => `'${s}'`).join(', ');
}

export function isJobState(value: unknown): value is JobState {
  return typeof value === 'string' && (JOB_STATES as readonly string[]).includes(value);
}
