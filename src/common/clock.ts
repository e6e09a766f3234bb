import { performance } from 'node:perf_hooks';

/**
 * Time as the service sees it; injected so policies and tests can control it. `now` is the wall
 * clock (stored, shown, compared with stored times); `monotonic` only moves forward at the rate
 * of real time, whatever is done to the wall clock, and decides how long something has been silent.
 */
export abstract class Clock {
  abstract now(): number;
  /** Milliseconds from an arbitrary origin; comparable only within this process. */
  abstract monotonic(): number;
}

export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }

  monotonic(): number {
    return performance.now();
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
