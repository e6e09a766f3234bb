import { ChaosWorker, Cluster, sleep } from './cluster';
import { Rng } from './rng';

/**
 * The faults of a chaos run, planned up front from the seed (when, what, on which worker, for how
 * long) and injected for the whole fault period. A fault whose target is not in a state to take
 * it when its time comes (a worker already down, a worker still starting when the service would
 * be killed) is skipped and counted as such; every other fault is undone after its hold: killed
 * processes are started again, stopped ones continued, the proxy thawed.
 */

export type FaultKind = 'worker-kill' | 'service-kill' | 'worker-sigstop' | 'worker-ctrl-z' | 'proxy-freeze';
export const FAULT_KINDS: FaultKind[] = ['worker-kill', 'service-kill', 'worker-sigstop', 'worker-ctrl-z', 'proxy-freeze'];

export interface PlannedFault {
  /** ms after the fault period began. */
  atMs: number;
  kind: FaultKind;
  /** Index of the target worker (worker faults). */
  worker: number;
  /** How long until it is undone: restart, SIGCONT, thaw. */
  holdMs: number;
}

export interface InjectedFault {
  kind: FaultKind;
  /** The worker's name, the replica's ('service' when there is one), or 'proxy'. */
  target: string;
  /** Wall clock, ns, comparable with the run log. */
  atNs: bigint;
  holdMs: number;
}

const WEIGHTS: Array<{ kind: FaultKind; weight: number }> = [
  { kind: 'worker-kill', weight: 3 },
  { kind: 'service-kill', weight: 1 },
  { kind: 'worker-sigstop', weight: 2 },
  { kind: 'worker-ctrl-z', weight: 2 },
  { kind: 'proxy-freeze', weight: 2 },
];

/**
 * Faults every 0.5–`2 × meanGap` ms. Holds: a killed process comes back after 0.2–3 s; half of the
 * pauses and freezes are short (up to half a lease), half outlast the lease (1–2.5 leases), the
 * case where a run is recovered while its command may still be running.
 */
export function planFaults(rng: Rng, durationMs: number, workers: number, leaseMs: number, meanGapMs: number): PlannedFault[] {
  const faults: PlannedFault[] = [];
  // One of each kind first, in a random order, so even a short run has every kind.
  const first = [...FAULT_KINDS];
  for (let i = first.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [first[i], first[j]] = [first[j], first[i]];
  }
  for (let at = rng.between(500, meanGapMs); at < durationMs; at += rng.between(500, 2 * meanGapMs)) {
    const kind = first.shift() ?? rng.weighted(WEIGHTS).kind;
    const pause = rng.fraction() < 0.5 ? rng.between(200, leaseMs / 2) : rng.between(leaseMs, 2.5 * leaseMs);
    const holdMs = Math.round(kind === 'worker-kill' || kind === 'service-kill' ? rng.between(200, 3000) : pause);
    faults.push({ atMs: Math.round(at), kind, worker: kind === 'proxy-freeze' ? 0 : rng.int(0, workers - 1), holdMs });
  }
  return faults;
}

export function wallNs(): bigint {
  return process.hrtime.bigint() - monoAtStart + wallAtStart;
}
// The run log's times are wall-clock ns; faults are stamped on the same scale, from a monotonic base.
const monoAtStart = process.hrtime.bigint();
const wallAtStart = BigInt(Date.now()) * 1_000_000n;

export class FaultInjector {
  readonly injected: InjectedFault[] = [];
  readonly skipped = new Map<FaultKind, number>();
  /** Steps still pending: restarts, SIGCONTs, thaws, service kills waiting for a worker to start. */
  private readonly undoing = new Set<Promise<void>>();
  private readonly errors: Error[] = [];

  constructor(
    private readonly cluster: Cluster,
    private readonly log: (line: string) => void,
  ) {}

  /** Injects `plan` from now on; resolves once the last one is injected and every one undone. */
  async run(plan: PlannedFault[]): Promise<void> {
    const began = Date.now();
    for (const fault of plan) {
      const wait = began + fault.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (this.errors.length > 0) break;
      this.inject(fault);
    }
    await this.settle();
    if (this.errors.length > 0) throw this.errors[0];
  }

  private async settle(): Promise<void> {
    while (this.undoing.size > 0) await Promise.all([...this.undoing]);
  }

  /** Runs `step` (an undo, or a delayed fault) alongside the plan; its failure fails the run. */
  private track(step: () => Promise<void>): void {
    const running = step()
      .catch((e: Error) => void this.errors.push(e))
      .finally(() => this.undoing.delete(running));
    this.undoing.add(running);
  }

  private later(ms: number, undo: () => void | Promise<void>): void {
    this.track(() => sleep(ms).then(undo));
  }

  private record(kind: FaultKind, target: string, holdMs: number): void {
    this.injected.push({ kind, target, atNs: wallNs(), holdMs });
    this.log(`fault: ${kind} ${target} for ${holdMs} ms`);
  }

  private skip(kind: FaultKind): void {
    this.skipped.set(kind, (this.skipped.get(kind) ?? 0) + 1);
  }

  /** The planned worker if it can take the fault, else the next one that can. */
  private target(f: PlannedFault, can: (w: ChaosWorker) => boolean): ChaosWorker | undefined {
    const all = this.cluster.workers;
    for (let i = 0; i < all.length; i++) {
      const w = all[(f.worker + i) % all.length];
      if (can(w)) return w;
    }
    return undefined;
  }

  private inject(f: PlannedFault): void {
    const { cluster } = this;
    switch (f.kind) {
      case 'service-kill': {
        // On SQLite, a worker that has not registered yet would start a service of its own: the
        // kill waits for it, without holding back the faults planned after this one. On
        // PostgreSQL it is the SIGKILL of one replica (the planned one, else the next one up).
        this.track(async () => {
          const starting = () => !cluster.postgres && cluster.workers.some((x) => x.state === 'starting');
          for (let waited = 0; waited < 60_000 && starting(); waited += 50) await sleep(50);
          const all = cluster.replicas;
          const replica = all.map((_, i) => all[(f.worker + i) % all.length]).find((r) => r.up);
          if (!replica || starting()) return this.skip(f.kind);
          this.record(f.kind, replica.name, f.holdMs);
          await cluster.killService(replica);
          await sleep(f.holdMs);
          await cluster.startService(replica);
        });
        return;
      }
      case 'worker-kill': {
        const w = this.target(f, (x) => x.state !== 'down' && x.state !== 'starting');
        if (!w) return this.skip(f.kind);
        this.record(f.kind, w.name, f.holdMs);
        const killed = cluster.killWorker(w);
        this.later(f.holdMs, async () => {
          await killed;
          await cluster.startWorker(w);
        });
        return;
      }
      case 'worker-sigstop':
      case 'worker-ctrl-z': {
        const w = this.target(f, (x) => x.state === 'up');
        if (!w) return this.skip(f.kind);
        this.record(f.kind, w.name, f.holdMs);
        if (f.kind === 'worker-sigstop') cluster.stopWorker(w);
        else cluster.suspendWorker(w);
        const proc = w.proc;
        // Continued unless it was killed (and perhaps started again) meanwhile.
        this.later(f.holdMs, () => void (w.proc === proc && cluster.resumeWorker(w)));
        return;
      }
      case 'proxy-freeze': {
        if (cluster.proxyFrozen) return this.skip(f.kind);
        this.record(f.kind, 'proxy', f.holdMs);
        cluster.freezeProxy();
        this.later(f.holdMs, () => cluster.thawProxy());
        return;
      }
    }
  }
}
