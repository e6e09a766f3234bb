import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';

/**
 * When each running job's run was last heard from (claimed, or a heartbeat accepted), on the
 * service's monotonic clock. The stored expiry is wall-clock time and moves with the wall clock:
 * a jump forward would make every lease look expired. The reaper recovers a job only when this
 * record agrees that the run has been silent for a whole lease and its grace.
 *
 * Kept in memory, so it knows nothing from before the service started: a run not heard from
 * since then counts as heard at start-up, which gives workers that outlived a restart a whole
 * lease to come back.
 */
@Injectable()
export class LeaseWatch {
  private readonly heard = new Map<string, { lease: number; at: number }>();
  private readonly startedAt: number;

  constructor(private readonly clock: Clock) {
    this.startedAt = clock.monotonic();
  }

  /** Run (id, lease) holds its job, as of monotonic time `at` (default: now). */
  heardFrom(id: string, lease: number, at = this.clock.monotonic()): void {
    const known = this.heard.get(id);
    if (known && (known.lease > lease || (known.lease === lease && known.at >= at))) return;
    this.heard.set(id, { lease, at });
  }

  /** Run (id, lease) no longer holds its job (finished, recovered, handed back). */
  ended(id: string, lease: number): void {
    if (this.heard.get(id)?.lease === lease) this.heard.delete(id);
  }

  /** Milliseconds since run (id, lease) was last heard from, or since start-up. */
  silentFor(id: string, lease: number): number {
    const known = this.heard.get(id);
    const at = known && known.lease === lease ? known.at : this.startedAt;
    return this.clock.monotonic() - at;
  }

  /** Milliseconds since the service started. */
  uptime(): number {
    return this.clock.monotonic() - this.startedAt;
  }
}
