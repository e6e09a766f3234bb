import { nearestRank } from './percentile';

describe('nearestRank', () => {
  it.each([
    [1, 0.95, 0],
    [2, 0.95, 1],
    [10, 0.95, 9],
    [20, 0.95, 18],
    [100, 0.95, 94],
    [100, 0.5, 49],
    [101, 0.5, 50],
    [3, 0, 0],
    [3, 1, 2],
    [0, 0.95, 0],
  ])('count %i, p %f gives index %i', (count, p, index) => {
    expect(nearestRank(count, p)).toBe(index);
  });

  it('agrees with sorting the values', () => {
    const values = Array.from({ length: 57 }, (_, i) => (i * 37) % 101);
    const sorted = [...values].sort((a, b) => a - b);
    const p95 = sorted[nearestRank(values.length, 0.95)];
    expect(values.filter((v) => v <= p95).length / values.length).toBeGreaterThanOrEqual(0.95);
    expect(values.filter((v) => v < p95).length / values.length).toBeLessThan(0.95);
  });
});
