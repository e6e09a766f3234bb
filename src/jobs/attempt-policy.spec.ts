import { AttemptEnd, failureReason, judgeAttempt } from './attempt-policy';

const end = (over: Partial<AttemptEnd>): AttemptEnd => ({ exitCode: null, signal: null, error: null, ...over });
const job = (attempts: number, over: Partial<{ max_retries: number; backoff_base: number | null; cancel_requested: number }> = {}) => ({
  attempts,
  max_retries: 3,
  backoff_base: null,
  cancel_requested: 0,
  ...over,
});
const backoff = { base: 2, maxSeconds: 3600, jitter: 0 };

describe('failureReason', () => {
  it.each([
    [end({ exitCode: 0 }), null],
    [end({ exitCode: 1 }), 'exit code 1'],
    [end({ exitCode: 127 }), 'command not found (exit code 127)'],
    [end({ exitCode: 126 }), 'command not executable (exit code 126)'],
    [end({ signal: 'SIGKILL' }), 'killed by SIGKILL'],
    [end({ exitCode: 0, error: 'cancelled' }), 'cancelled'],
    [end({ signal: 'SIGTERM', error: 'timeout' }), 'timeout'],
    [end({ error: 'worker lost' }), 'worker lost'],
    [end({}), 'ended without an exit status'],
  ])('%j → %s', (e, reason) => {
    expect(failureReason(e)).toBe(reason);
  });
});

describe('judgeAttempt', () => {
  const now = 1_000_000;

  it('completes on exit 0, even when a cancel came too late', () => {
    expect(judgeAttempt(job(1), end({ exitCode: 0 }), backoff, now)).toEqual({ kind: 'complete' });
    expect(judgeAttempt(job(1, { cancel_requested: 1 }), end({ exitCode: 0 }), backoff, now)).toEqual({ kind: 'complete' });
  });

  it.each([
    [1, 2000],
    [2, 4000],
    [3, 8000],
  ])('after failed attempt %i the retry is due in %i ms (base 2)', (attempts, delay) => {
    expect(judgeAttempt(job(attempts), end({ exitCode: 1 }), backoff, now)).toEqual({ kind: 'retry', dueAt: now + delay, reason: 'exit code 1' });
  });

  it('buries once attempts exceed max_retries: max_retries + 1 runs in all', () => {
    expect(judgeAttempt(job(4), end({ exitCode: 1 }), backoff, now)).toEqual({ kind: 'bury', reason: 'exit code 1' });
    expect(judgeAttempt(job(1, { max_retries: 0 }), end({ exitCode: 1 }), backoff, now).kind).toBe('bury');
  });

  it("uses the job's own backoff base, capped by backoff-max", () => {
    expect(judgeAttempt(job(2, { backoff_base: 3 }), end({ exitCode: 1 }), backoff, now)).toMatchObject({ dueAt: now + 9000 });
    expect(judgeAttempt(job(3, { max_retries: 10 }), end({ exitCode: 1 }), { ...backoff, maxSeconds: 5 }, now)).toMatchObject({ dueAt: now + 5000 });
  });

  it('buries a cancelled job with reason cancelled, whatever retries are left', () => {
    expect(judgeAttempt(job(1, { cancel_requested: 1 }), end({ signal: 'SIGTERM', error: 'cancelled' }), backoff, now)).toEqual({
      kind: 'bury',
      reason: 'cancelled',
    });
    expect(judgeAttempt(job(1, { cancel_requested: 1 }), end({ exitCode: 3 }), backoff, now)).toEqual({ kind: 'bury', reason: 'cancelled' });
  });

  it('counts a lost worker like any failure', () => {
    expect(judgeAttempt(job(1), end({ error: 'worker lost' }), backoff, now)).toEqual({ kind: 'retry', dueAt: now + 2000, reason: 'worker lost' });
    expect(judgeAttempt(job(4), end({ error: 'worker lost' }), backoff, now)).toEqual({ kind: 'bury', reason: 'worker lost' });
  });

  it('spreads the delay with jitter from the given random source', () => {
    const verdict = judgeAttempt(job(1), end({ exitCode: 1 }), { ...backoff, jitter: 0.5 }, now, () => 1);
    expect(verdict).toMatchObject({ dueAt: now + 3000 });
  });
});
