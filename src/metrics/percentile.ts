/**
 * Nearest-rank percentile: the 0-based position, in ascending order, of the value that at least
 * `p` of the `count` values do not exceed. Pure, so the SQL only has to sort and skip.
 */
export function nearestRank(count: number, p: number): number {
  if (count <= 0) return 0;
  return Math.min(count - 1, Math.max(0, Math.ceil(p * count) - 1));
}
