import { JOB_STATES, TRANSITIONS, canApply, isJobState } from './job-state';

describe('job transitions', () => {
  it.each([
    ['claim', 'pending', true],
    ['claim', 'failed', true],
    ['claim', 'processing', false],
    ['claim', 'dead', false],
    ['complete', 'processing', true],
    ['complete', 'pending', false],
    ['cancel', 'pending', true],
    ['cancel', 'failed', true],
    ['cancel', 'completed', false],
    ['cancel', 'dead', false],
    ['retryDead', 'dead', true],
    ['retryDead', 'failed', false],
    ['purge', 'completed', true],
    ['purge', 'pending', false],
  ] as const)('%s from %s: %s', (action, state, allowed) => {
    expect(canApply(action, state)).toBe(allowed);
  });

  it('names only known states', () => {
    for (const t of Object.values(TRANSITIONS)) {
      for (const s of t.from) expect(JOB_STATES).toContain(s);
      if (t.to !== null) expect(JOB_STATES).toContain(t.to);
    }
    expect(isJobState('pending')).toBe(true);
    expect(isJobState('running')).toBe(false);
  });
});
