import { FAULT_KINDS } from './faults';
import type { ChaosOptions } from './main';
import { Verdict } from './verdict';

export interface RunFacts extends Omit<ChaosOptions, 'home'> {
  home: string;
  kept: boolean;
  skipped: Record<string, number>;
  settleMs: number;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const counts = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

const service = (run: RunFacts) =>
  run.db === 'postgres' ? `${run.replicas} service replicas on PostgreSQL (the proxy round-robin over them; service-kill is a replica's)` : 'one service on SQLite';

/** The result of a run: one JSON object with --json, else lines for people. */
export function report(v: Verdict, run: RunFacts): string {
  const { json, ...facts } = run;
  if (json) return `${JSON.stringify({ ok: v.violations === 0, run: facts, ...v })}\n`;
  const faults = FAULT_KINDS.map((k) => `${k} ${v.faults[k]}`).join(', ');
  const total = Object.values(v.faults).reduce((a, b) => a + b, 0);
  const lines = [
    `chaos run: ${run.jobs} jobs (${run.long}% long, ${run.lone}% enqueued one at a time during the faults), ${run.workers} workers × ${run.slots} slots (the first behind the TCP proxy), ${service(run)}, faults for ${run.duration} s, lease ${run.lease} s, seed ${run.seed}`,
    `faults injected: ${total} (${faults}); skipped: ${counts(run.skipped)}`,
    `jobs: ${counts(v.states)}; dead by reason: ${counts(v.deadReasons)}`,
    `runs: ${v.serviceRuns} recorded by the service, ${v.loggedRuns} logged by commands; settled ${s(run.settleMs)} after the faults`,
    `lost               ${v.lost}`,
    `stuck              ${v.stuck}`,
    `overlapping        ${v.overlapping}${v.overlapping ? ` (longest overlap ${s(v.longestOverlapMs)})` : ''}`,
    `wrongly completed  ${v.wronglyCompleted}`,
    `disagreeing runs   ${v.disagreeing}`,
    `unreadable lines   ${v.unreadableLines}`,
    `longest recovery   ${s(v.longestRecoveryMs)}${v.longestRecoveryJob ? ` (job ${v.longestRecoveryJob})` : ''}`,
    ...v.examples.map((e) => `  ${e.job}: ${e.what}`),
    v.violations === 0 ? 'result: ok, no violation' : `result: FAILED, ${v.violations} violation(s)`,
    ...(run.kept ? [`home kept: ${run.home}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
