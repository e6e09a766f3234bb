/** How times and sizes read on the dashboard. Pure, so the pages render the same everywhere. */

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3600_000)} h ${Math.round((ms % 3600_000) / 60_000)} min`;
}

/** "12 s ago", "in 3 min": relative to `now`, for times that matter by their distance. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const diff = now - Date.parse(iso);
  const text = formatDuration(Math.abs(diff)).replace(/(\d+)\.\d+ s$/, '$1 s');
  if (Math.abs(diff) < 1000) return 'just now';
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatPercent(rate: number | null): string {
  return rate === null ? '—' : `${(rate * 100).toFixed(rate === 1 ? 0 : 1)} %`;
}
