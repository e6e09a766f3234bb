export interface ChartBar {
  x: number;
  y: number;
  width: number;
  height: number;
  kind: 'completed' | 'failed';
  title: string;
}

export interface ThroughputChart {
  width: number;
  height: number;
  bars: ChartBar[];
  /** The value at the top of the scale, so the chart can be read. */
  max: number;
  gridY: number;
  minutes: number;
}

const WIDTH = 600;
const HEIGHT = 150;

/**
 * Geometry of the throughput chart: one column per minute, completed stacked under failed,
 * scaled to the busiest minute (rounded up to a readable number). Drawn on the server as SVG,
 * so the page needs no chart library and no script.
 */
export function throughputChart(perMinute: Array<{ start: string; completed: number; failed: number }>): ThroughputChart {
  const max = niceCeiling(Math.max(1, ...perMinute.map((m) => m.completed + m.failed)));
  const slot = WIDTH / Math.max(1, perMinute.length);
  const width = Math.max(1, slot * 0.8);
  const bars: ChartBar[] = [];
  perMinute.forEach((m, i) => {
    const x = round(i * slot + (slot - width) / 2);
    const time = m.start.slice(11, 16);
    const done = (m.completed / max) * HEIGHT;
    const failed = (m.failed / max) * HEIGHT;
    if (m.completed > 0) {
      bars.push({ x, y: round(HEIGHT - done), width: round(width), height: round(done), kind: 'completed', title: `${time} UTC: ${m.completed} completed` });
    }
    if (m.failed > 0) {
      bars.push({ x, y: round(HEIGHT - done - failed), width: round(width), height: round(failed), kind: 'failed', title: `${time} UTC: ${m.failed} failed` });
    }
  });
  return { width: WIDTH, height: HEIGHT, bars, max, gridY: HEIGHT / 2, minutes: perMinute.length };
}

/** 1, 2, 5 × 10^n: the smallest at or above `v`. */
export function niceCeiling(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
