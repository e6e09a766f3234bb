/**
 * Nearest-rank percentile: the 0-based position, in ascending order, of the value that at least
 * `p` of the `count` values do not exceed.
 */
export function nearestRank(count: number, p: number): number {
  if (count <= 0) return 0;
  return Math.min(count - 1, Math.max(0, Math.ceil(p * count) - 1));
}

/** Count, mean and 95th percentile (nearest rank) of a sample; nulls when it is empty. */
export function summarise(values: number[]): { count: number; avg: number | null; p95: number | null } {
  if (values.length === 0) return { count: 0, avg: null, p95: null };
  const sorted = [...values].sort((a, b) => a - b);
  const avg = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { count: sorted.length, avg: Math.round(avg * 10) / 10, p95: sorted[nearestRank(sorted.length, 0.95)] };
}
