import { niceCeiling, throughputChart } from './throughput-chart';

describe('throughputChart', () => {
  it.each([
    [1, 1],
    [3, 5],
    [7, 10],
    [10, 10],
    [11, 20],
    [240, 500],
    [1000, 1000],
  ])('rounds %i up to %i', (v, nice) => expect(niceCeiling(v)).toBe(nice));

  it('stacks failed on completed, scaled to the busiest minute', () => {
    const chart = throughputChart([
      { start: '2030-01-01T10:00:00.000Z', completed: 6, failed: 4 },
      { start: '2030-01-01T10:01:00.000Z', completed: 0, failed: 0 },
      { start: '2030-01-01T10:02:00.000Z', completed: 5, failed: 0 },
    ]);
    expect(chart.max).toBe(10);
    expect(chart.bars).toHaveLength(3);
    const [done, failed, third] = chart.bars;
    expect(done).toMatchObject({ kind: 'completed', height: 90, y: 60, title: '10:00 UTC: 6 completed' });
    expect(failed).toMatchObject({ kind: 'failed', height: 60, y: 0 });
    expect(third).toMatchObject({ kind: 'completed', height: 75, y: 75, x: 420 });
    expect(done.x + done.width).toBeLessThan(third.x);
  });

  it('draws nothing for an idle hour but keeps a scale', () => {
    const chart = throughputChart(Array.from({ length: 60 }, (_, i) => ({ start: new Date(i * 60_000).toISOString(), completed: 0, failed: 0 })));
    expect(chart.bars).toEqual([]);
    expect(chart.max).toBe(1);
  });
});
