/**
 * The system's monotonic clock (CLOCK_MONOTONIC on Linux), the same in every process: the worker
 * and its guard agree on deadlines with it, whatever is done to the wall clock. A module of its
 * own so that the guard, a process started with every worker, loads nothing else to read it.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}
