import { nearestRank, summarise } from './percentile';

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

describe('summarise', () => {
  it('gives count, mean and p95 of any order of values', () => {
    expect(summarise([])).toEqual({ count: 0, avg: null, p95: null });
    expect(summarise([5])).toEqual({ count: 1, avg: 5, p95: 5 });
    const values = [120, 450, 80, 3000, 60, 900, 15, 700, 2500, 40, 333, 1200];
    expect(summarise(values)).toEqual({ count: 12, avg: 783.2, p95: 3000 });
    expect(summarise(Array.from({ length: 100 }, (_, i) => 100 - i))).toEqual({ count: 100, avg: 50.5, p95: 95 });
  });
});
