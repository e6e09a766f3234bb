import { retryDelaySeconds } from './backoff';

describe('retryDelaySeconds', () => {
  const policy = { base: 2, maxSeconds: 3600, jitter: 0 };

  it.each([
    [1, 2],
    [2, 4],
    [3, 8],
    [10, 1024],
    [12, 3600],
    [5000, 3600],
  ])('after attempt %i waits %i s with base 2 and cap 3600', (attempts, seconds) => {
    expect(retryDelaySeconds(attempts, policy)).toBe(seconds);
  });

  it('uses the job base', () => {
    expect(retryDelaySeconds(2, { ...policy, base: 3 })).toBe(9);
    expect(retryDelaySeconds(3, { ...policy, base: 1.5 })).toBeCloseTo(3.375);
  });

  it('spreads by the jitter ratio and stays within the cap', () => {
    const p = { base: 2, maxSeconds: 10, jitter: 0.5 };
    expect(retryDelaySeconds(3, p, () => 0)).toBe(4);
    expect(retryDelaySeconds(3, p, () => 1)).toBe(10);
    expect(retryDelaySeconds(3, p, () => 0.5)).toBe(8);
    expect(retryDelaySeconds(4, p, () => 1)).toBe(10);
  });
});
