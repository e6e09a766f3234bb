/** Time as the service sees it; injected so policies and tests can control it. */
export abstract class Clock {
  abstract now(): number;
}

export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }
}

// The last answer is kept: the jobs of a batch, or of a page, share a few times.
let lastMs = NaN;
let lastIso = '';

export function toIso(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  const n = Number(ms);
  if (n !== lastMs) {
    lastIso = new Date(n).toISOString();
    lastMs = n;
  }
  return lastIso;
}
