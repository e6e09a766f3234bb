import { markerLines } from './harness';

/**
 * Runs of jobs as their commands record them: a command made by `timedCommand` appends
 * "<queue> <id> start <ns>" and "<queue> <id> end <ns>" to a marker file (the clock of the
 * machine, read by the command itself), so tests can tell exactly which runs overlapped.
 */
export interface TimedRun {
  queue: string;
  id: string;
  start: number;
  end: number;
}

export function timedCommand(marker: string, queue: string, seconds: number): string {
  const stamp = (what: string) => `echo "${queue} $QUEUECTL_JOB_ID ${what} $(date +%s%N)" >> '${marker}'`;
  return `${stamp('start')}; sleep ${seconds}; ${stamp('end')}`;
}

export function timedRuns(marker: string): TimedRun[] {
  const runs = new Map<string, TimedRun>();
  for (const line of markerLines(marker)) {
    const [queue, id, what, ns] = line.split(' ');
    const at = Number(BigInt(ns) / 1_000_000n);
    const run = runs.get(id) ?? { queue, id, start: NaN, end: NaN };
    if (what === 'start') run.start = at;
    else run.end = at;
    runs.set(id, run);
  }
  return [...runs.values()].sort((a, b) => a.start - b.start);
}

/** The most runs of `runs` in progress at one moment. */
export function mostAtOnce(runs: TimedRun[]): number {
  const edges = runs.flatMap((r) => [
    { at: r.start, d: 1 },
    { at: r.end, d: -1 },
  ]);
  // At equal times an end comes first: a run that starts as another ends does not overlap it.
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (now += e.d));
  return most;
}
