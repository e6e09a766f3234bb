export interface BackoffPolicy {
  base: number;
  maxSeconds: number;
  /** 0..1: the delay is spread uniformly over ±jitter of itself. */
  jitter: number;
}

/**
 * Seconds to wait after failed attempt number `attempts` (1-based): base ^ attempts, capped.
 * Pure: the random source is a parameter.
 */
export function retryDelaySeconds(attempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const raw = Math.pow(policy.base, Math.max(1, attempts));
  const capped = Math.min(Number.isFinite(raw) ? raw : policy.maxSeconds, policy.maxSeconds);
  if (policy.jitter <= 0) return capped;
  const spread = capped * policy.jitter * (random() * 2 - 1);
  return Math.min(policy.maxSeconds, Math.max(0, capped + spread));
}
