/**
 * The timing budget of a lease, shared by the worker (which stops its command before the lease
 * could expire) and the service (which recovers the job only well after that). Pure, so both
 * sides and the tests compute the same figures from the one setting, lease-timeout.
 *
 * A worker counts from when it *sent* its last heartbeat that succeeded: the service wrote the
 * new expiry after that moment, so the lease cannot end sooner than sent + lease. At
 * sent + lease − margin its watchdog sends the command's process group SIGTERM, and SIGKILL
 * killGrace later; killGrace < margin, so the command is gone before the lease can end. The
 * service recovers a job only when its stored expiry is reapGrace past and, on the service's
 * monotonic clock, lease + reapGrace have gone by since the run was last heard from.
 *
 * At the default lease of 30 s: margin 5 s, kill grace 2 s, reap grace 7 s.
 */
export interface LeaseBudget {
  leaseMs: number;
  /** How long before the lease could end the watchdog starts killing the command. */
  marginMs: number;
  /** Between the watchdog's SIGTERM and its SIGKILL. */
  killGraceMs: number;
  /** How long past the lease the service waits before recovering a job: margin + kill grace. */
  reapGraceMs: number;
}

export function leaseBudget(leaseMs: number): LeaseBudget {
  const marginMs = Math.min(5000, Math.round(leaseMs / 4));
  const killGraceMs = Math.min(2000, Math.round(leaseMs / 10));
  return { leaseMs, marginMs, killGraceMs, reapGraceMs: marginMs + killGraceMs };
}
