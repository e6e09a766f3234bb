import { FaultKind, InjectedFault } from './faults';
import { PlannedJob, plannedExit } from './workload';

/**
 * The checks of a chaos run, from three witnesses that do not share code: the jobs as the run
 * planned them, the run log the commands wrote themselves (see workload.ts), and the jobs with
 * their runs as the service answers them (GET /api/jobs/:id).
 */

/** A run as the service recorded it (the `runs` of GET /api/jobs/:id). */
export interface ServiceRun {
  run: number;
  attempt: number;
  worker_id: string | null;
  started_at: string;
  finished_at: string | null;
  exit_code: number | null;
  error: string | null;
}

export interface ServiceJob {
  id: string;
  state: string;
  last_error: string | null;
  runs: ServiceRun[];
}

/** One run as its command logged it. Times are wall-clock ns. */
export interface LoggedRun {
  job: string;
  run: number;
  start?: bigint;
  worker?: string;
  attempt?: number;
  /** The last line of the run: its end, or else its last tick, or else its start. */
  last: bigint;
  end?: bigint;
  ticks: number;
  /** Start lines seen: more than one means two commands ran under one run id. */
  starts: number;
}

export interface Example {
  job: string;
  what: string;
}

export interface Verdict {
  jobs: number;
  states: Record<string, number>;
  deadReasons: Record<string, number>;
  serviceRuns: number;
  loggedRuns: number;
  faults: Record<FaultKind, number>;
  /** Enqueued (acknowledged) but unknown to the service at the end. */
  lost: number;
  /** Neither completed nor dead (with a reason) when the run ended. */
  stuck: number;
  /** Jobs with two runs whose logged lifetimes overlap. */
  overlapping: number;
  longestOverlapMs: number;
  /** Completed, but the completing run's command did not log its end, or planned to fail. */
  wronglyCompleted: number;
  /** Runs where the service's record and the command's log disagree. */
  disagreeing: number;
  /** Lines of the run log that are not one whole event. */
  unreadableLines: number;
  longestRecoveryMs: number;
  longestRecoveryJob: string | null;
  examples: Example[];
  violations: number;
}

const EXAMPLES_PER_CHECK = 5;

export function parseRunLog(text: string): { runs: Map<string, LoggedRun>; unreadable: string[] } {
  const runs = new Map<string, LoggedRun>();
  const unreadable: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    const ok = /^\d+$/.test(f[1] ?? '') && /^\d+$/.test(f[3] ?? '') && (f[2] === 'start' ? f.length === 6 : (f[2] === 'tick' || f[2] === 'end') && f.length === 4);
    if (!ok) {
      unreadable.push(line);
      continue;
    }
    const [job, run, event] = f;
    const ns = BigInt(f[3]);
    const key = runKey(job, Number(run));
    const r = runs.get(key) ?? { job, run: Number(run), last: ns, ticks: 0, starts: 0 };
    runs.set(key, r);
    if (event === 'start') {
      r.starts++;
      r.start = r.start === undefined || ns < r.start ? ns : r.start;
      r.worker = f[4];
      r.attempt = Number(f[5]);
    } else if (event === 'tick') r.ticks++;
    else r.end = ns;
    if (ns > r.last) r.last = ns;
  }
  return { runs, unreadable };
}

function runKey(job: string, run: number): string {
  return `${job} ${run}`;
}

const ms = (ns: bigint) => Number(ns / 1000n) / 1000;
const isoNs = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

export function judge(planned: PlannedJob[], service: ServiceJob[], log: { runs: Map<string, LoggedRun>; unreadable: string[] }, faults: InjectedFault[]): Verdict {
  const v: Verdict = {
    jobs: planned.length,
    states: {},
    deadReasons: {},
    serviceRuns: 0,
    loggedRuns: log.runs.size,
    faults: { 'worker-kill': 0, 'service-kill': 0, 'worker-sigstop': 0, 'worker-ctrl-z': 0, 'proxy-freeze': 0 },
    lost: 0,
    stuck: 0,
    overlapping: 0,
    longestOverlapMs: 0,
    wronglyCompleted: 0,
    disagreeing: 0,
    unreadableLines: log.unreadable.length,
    longestRecoveryMs: 0,
    longestRecoveryJob: null,
    examples: [],
    violations: 0,
  };
  for (const f of faults) v.faults[f.kind]++;
  const shown = new Map<string, number>();
  const example = (check: string, job: string, what: string) => {
    const n = shown.get(check) ?? 0;
    shown.set(check, n + 1);
    if (n < EXAMPLES_PER_CHECK) v.examples.push({ job, what: `${check}: ${what}` });
  };
  for (const line of log.unreadable.slice(0, EXAMPLES_PER_CHECK)) example('unreadable log line', '-', JSON.stringify(line));

  const byJob = new Map<string, LoggedRun[]>();
  for (const r of log.runs.values()) {
    const list = byJob.get(r.job) ?? [];
    list.push(r);
    byJob.set(r.job, list);
  }
  const known = new Map(service.map((j) => [j.id, j]));

  for (const plan of planned) {
    const job = known.get(plan.id);
    const logged = byJob.get(plan.id) ?? [];
    if (!job) {
      v.lost++;
      example('lost', plan.id, 'enqueued and acknowledged, unknown to the service at the end');
      continue;
    }
    v.serviceRuns += job.runs.length;
    v.states[job.state] = (v.states[job.state] ?? 0) + 1;
    if (job.state === 'dead') v.deadReasons[job.last_error ?? '(none)'] = (v.deadReasons[job.last_error ?? '(none)'] ?? 0) + 1;
    if (!(job.state === 'completed' || (job.state === 'dead' && job.last_error))) {
      v.stuck++;
      example('stuck', plan.id, `left ${job.state}${job.state === 'dead' ? ' without a reason' : ''}`);
    }

    const overlap = longestOverlap(logged);
    if (overlap !== null) {
      v.overlapping++;
      v.longestOverlapMs = Math.max(v.longestOverlapMs, overlap.ms);
      const run = (r: LoggedRun) => `run ${r.run} on ${r.worker ?? '?'}`;
      example('overlap', plan.id, `${run(overlap.second)} started while ${run(overlap.first)} still ran; both ran for ${overlap.ms.toFixed(1)} ms`);
    }

    const runs = [...job.runs].sort((a, b) => a.run - b.run);
    const loggedByRun = new Map(logged.map((r) => [r.run, r]));
    if (job.state === 'completed') {
      const last = runs[runs.length - 1];
      const l = last && loggedByRun.get(last.run);
      const why =
        !last ? 'no run recorded'
        : last.exit_code !== 0 ? `its last run ${last.run} has exit code ${last.exit_code}`
        : !l?.end ? `run ${last.run} is recorded as exit 0, but its command logged no end`
        : plannedExit(plan, last.attempt) !== 0 ? `run ${last.run} (attempt ${last.attempt}) was to fail`
        : null;
      if (why) {
        v.wronglyCompleted++;
        example('wrongly completed', plan.id, why);
      }
    }

    for (const why of disagreements(plan, job, runs, logged)) {
      v.disagreeing++;
      example('disagreement', plan.id, why);
    }

    const recovery = longestRecovery(runs, loggedByRun);
    if (recovery > v.longestRecoveryMs) {
      v.longestRecoveryMs = recovery;
      v.longestRecoveryJob = plan.id;
    }
  }
  v.violations = v.lost + v.stuck + v.overlapping + v.wronglyCompleted + v.disagreeing + v.unreadableLines;
  return v;
}

/**
 * The longest time two logged runs of one job were both alive, or null when none overlapped.
 * A run is alive from its start line to its last line: its end, or — for a command killed before
 * it ended — its last tick, as far as anyone can witness. So an overlap counted here certainly
 * happened (both commands wrote a line inside the shared interval); a killed command that lived
 * on a little past its last tick is not counted beyond that tick.
 */
export function longestOverlap(runs: LoggedRun[]): { ms: number; first: LoggedRun; second: LoggedRun } | null {
  const sorted = [...runs].sort((a, b) => cmp(a.start ?? a.last, b.start ?? b.last));
  let longest: { ms: number; first: LoggedRun; second: LoggedRun } | null = null;
  // The run alive the furthest so far: the one any later start may overlap the most.
  let reach: LoggedRun | undefined;
  for (const r of sorted) {
    const from = r.start ?? r.last;
    if (reach && from < reach.last) {
      const shared = ms((r.last < reach.last ? r.last : reach.last) - from);
      if (!longest || shared > longest.ms) longest = { ms: shared, first: reach, second: r };
    }
    if (!reach || r.last > reach.last) reach = r;
  }
  return longest;
}

const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Where the service's runs and the commands' log disagree:
 * - a command logged a run the service has no record of (its run id is unknown for this job);
 * - two commands started under one run id;
 * - a run's logged attempt is not the attempt the service recorded;
 * - the service holds a command's exit code (its report was accepted) that the command did not
 *   end with: no end line, or not the exit code the command was to choose at that attempt;
 * - a finished job still has a run the service never closed.
 * A recorded run with no log at all is not a disagreement: its worker claimed it and was killed
 * (or lost its lease) before the command started, and the service must then not hold an exit code.
 */
function disagreements(plan: PlannedJob, job: ServiceJob, runs: ServiceRun[], logged: LoggedRun[]): string[] {
  const out: string[] = [];
  const recorded = new Map(runs.map((r) => [r.run, r]));
  for (const l of logged) {
    const r = recorded.get(l.run);
    if (!r) out.push(`run ${l.run} was logged by a command but the service has no such run`);
    if (l.starts > 1) out.push(`${l.starts} commands started as run ${l.run}`);
    if (r && l.attempt !== undefined && l.attempt !== r.attempt) out.push(`run ${l.run} logged attempt ${l.attempt}, the service recorded ${r.attempt}`);
  }
  const byRun = new Map(logged.map((l) => [l.run, l]));
  const finished = job.state === 'completed' || job.state === 'dead';
  for (const r of runs) {
    const l = byRun.get(r.run);
    if (r.exit_code !== null) {
      if (!l?.end) out.push(`run ${r.run} is recorded with exit code ${r.exit_code}, but its command logged no end`);
      else if (r.exit_code !== plannedExit(plan, r.attempt)) out.push(`run ${r.run} is recorded with exit code ${r.exit_code}, the command chose ${plannedExit(plan, r.attempt)}`);
    }
    if (finished && r.finished_at === null) out.push(`run ${r.run} was never closed though the job is ${job.state}`);
  }
  return out;
}

/**
 * The longest a job waited to run again after a run that did not end by its own report (no exit
 * code recorded: its worker was killed, stopped or cut off, or its report was lost): from that
 * run's last sign of life (its last log line; its claim when it logged nothing) to the next run's
 * start. This is fault → running again, plus at most one tick for a command killed between ticks,
 * and it includes the retry's 1 s backoff and any wait behind other due jobs.
 */
function longestRecovery(runs: ServiceRun[], logged: Map<number, LoggedRun>): number {
  let longest = 0;
  for (let i = 0; i + 1 < runs.length; i++) {
    if (runs[i].exit_code !== null) continue;
    const before = logged.get(runs[i].run)?.last ?? isoNs(runs[i].started_at);
    const next = logged.get(runs[i + 1].run)?.start ?? isoNs(runs[i + 1].started_at);
    if (next > before) longest = Math.max(longest, ms(next - before));
  }
  return longest;
}
