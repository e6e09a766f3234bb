import { ServiceJob, ServiceRun, judge, longestOverlap, parseRunLog } from './verdict';
import { PlannedJob } from './workload';

const S = 1_000_000_000n;
const T0 = 1_764_000_000n * S;
const at = (seconds: number) => String(T0 + BigInt(Math.round(seconds * 1000)) * 1_000_000n);
const iso = (seconds: number) => new Date(Number((T0 + BigInt(Math.round(seconds * 1000)) * 1_000_000n) / 1_000_000n)).toISOString();

function plan(id: string, kind: PlannedJob['kind'] = 'long'): PlannedJob {
  return { id, kind, ticks: 4, maxRetries: 5, runAt: 0 };
}

function run(n: number, attempt: number, exit: number | null, startedAt: number, error: string | null = null): ServiceRun {
  return { run: n, attempt, worker_id: 'w', started_at: iso(startedAt), finished_at: iso(startedAt + 1), exit_code: exit, error };
}

function job(id: string, state: string, runs: ServiceRun[], lastError: string | null = null): ServiceJob {
  return { id, state, last_error: lastError, runs };
}

describe('chaos checks', () => {
  it('reads the run log, and counts a torn line as unreadable', () => {
    const log = parseRunLog([`a 1 start ${at(0)} w1 1`, `a 1 tick ${at(0.25)}`, `a 1 end ${at(0.5)}`, `a 1 ti`, `b 2 start ${at(1)} w2`].join('\n'));
    expect(log.runs.get('a 1')).toMatchObject({ attempt: 1, worker: 'w1', ticks: 1, start: BigInt(at(0)), end: BigInt(at(0.5)), last: BigInt(at(0.5)) });
    expect(log.unreadable).toEqual(['a 1 ti', `b 2 start ${at(1)} w2`]);
  });

  it('finds runs alive at once, up to the last tick of a run killed without an end', () => {
    const log = parseRunLog(
      [`a 1 start ${at(0)} w1 1`, `a 1 tick ${at(3)}`, `a 1 tick ${at(6)}`, `a 2 start ${at(5)} w2 2`, `a 2 end ${at(9)}`].join('\n'),
    );
    expect(longestOverlap([...log.runs.values()])).toMatchObject({ ms: 1000, first: { run: 1 }, second: { run: 2 } });
  });

  it('does not count runs that follow one another, nor a killed run past its last line', () => {
    const log = parseRunLog([`a 1 start ${at(0)} w1 1`, `a 1 tick ${at(3)}`, `a 2 start ${at(3.001)} w2 2`, `a 2 end ${at(5)}`].join('\n'));
    expect(longestOverlap([...log.runs.values()])).toBeNull();
  });

  it('passes a clean history: a retry after a lost worker, a failure then a success', () => {
    const log = parseRunLog(
      [
        `a 1 start ${at(0)} w1 1`,
        `a 1 tick ${at(1)}`,
        `a 2 start ${at(8)} w2 2`,
        `a 2 end ${at(9)}`,
        `f 3 start ${at(0)} w1 1`,
        `f 3 end ${at(0.1)}`,
        `f 4 start ${at(2)} w1 2`,
        `f 4 end ${at(2.1)}`,
      ].join('\n'),
    );
    const v = judge(
      [plan('a'), plan('f', 'flaky')],
      [job('a', 'completed', [run(1, 1, null, 0, 'worker lost'), run(2, 2, 0, 8)]), job('f', 'completed', [run(3, 1, 3, 0), run(4, 2, 0, 2)])],
      log,
      [],
    );
    expect(v).toMatchObject({ violations: 0, overlapping: 0, disagreeing: 0, wronglyCompleted: 0, stuck: 0, lost: 0 });
    expect(v.longestRecoveryMs).toBeCloseTo(7000, 0);
    expect(v.longestRecoveryJob).toBe('a');
  });

  it('counts each kind of violation', () => {
    const log = parseRunLog(
      [
        // overlap: run 2 starts while run 1 still ticks
        `o 1 start ${at(0)} w1 1`,
        `o 1 tick ${at(4)}`,
        `o 2 start ${at(2)} w2 2`,
        `o 2 end ${at(3)}`,
        // completed, but its command never logged an end
        `c 1 start ${at(0)} w1 1`,
        // a command ran as a run the service never recorded
        `u 9 start ${at(0)} w1 1`,
        `u 9 end ${at(1)}`,
        `u 10 start ${at(2)} w1 1`,
        `u 10 end ${at(3)}`,
      ].join('\n'),
    );
    const v = judge(
      [plan('o'), plan('c'), plan('u'), plan('gone'), plan('p')],
      [
        job('o', 'completed', [run(1, 1, null, 0, 'worker lost'), run(2, 2, 0, 2)]),
        job('c', 'completed', [run(1, 1, 0, 0)]),
        job('u', 'completed', [run(10, 1, 0, 2)]),
        job('p', 'processing', [run(1, 1, null, 0)]),
      ],
      log,
      [],
    );
    expect(v).toMatchObject({ overlapping: 1, wronglyCompleted: 1, lost: 1, stuck: 1 });
    // c: an exit code with no end; u: run 9 unknown to the service
    expect(v.disagreeing).toBe(2);
    expect(v.violations).toBe(6);
    expect(v.examples.map((e) => e.job).sort()).toEqual(['c', 'c', 'gone', 'o', 'p', 'u']);
  });

  it('refuses a completion the command did not choose, and a dead job without a reason', () => {
    const log = parseRunLog([`d 1 start ${at(0)} w1 1`, `d 1 end ${at(1)}`].join('\n'));
    const v = judge([plan('d', 'doomed'), plan('x', 'quick')], [job('d', 'completed', [run(1, 1, 0, 0)]), job('x', 'dead', [])], log, []);
    expect(v.wronglyCompleted).toBe(1);
    expect(v.disagreeing).toBe(1);
    expect(v.stuck).toBe(1);
  });
});
