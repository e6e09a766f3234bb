import { Injectable } from '@nestjs/common';
import { Announcement, Sql } from '../database/sql';
import type { QueueSettings } from '../queues/queues.repository';
import type { DraftJob, JobRow } from './job-row';
import type { ClaimedJob } from './job-runs.service';

/** Claims for one waiting worker inside a unit of work, with the queue settings it read (JobRunsService.claimIn's rules). */
export type ClaimIn = (sql: Sql, queues: QueueSettings) => Promise<ClaimedJob[]>;

/**
 * Where the database commits a statement alone (PostgreSQL): stores one new job already claimed
 * for one waiting worker, with what `said` announces, and answers the row as enqueued and the job
 * as claimed; undefined, with nothing stored, where that job might not be the one its claim
 * would take (JobRunsService.insertClaimed).
 */
export type ClaimNew = (job: DraftJob, said: Announcement[]) => Promise<{ row: JobRow; claimed: ClaimedJob } | undefined>;

/**
 * One claim long-polling in this service, as the handoff sees it: `waiting` may be offered work;
 * `offered` has jobs claimed for it in a unit of work not committed yet; `handed` got them; `left`
 * stopped waiting (answered, timed out, hung up) and is offered nothing more.
 */
export class WaitingClaim {
  state: 'waiting' | 'offered' | 'handed' | 'left' = 'waiting';
  jobs: ClaimedJob[] = [];
  private settled?: () => void;
  private settling?: Promise<void>;

  constructor(
    readonly claimIn: ClaimIn,
    /** The queues it takes jobs from (--queues); undefined for every queue. */
    private readonly served: readonly string[] | undefined,
    /** Called when jobs are handed over, so the long-poll answers at once. */
    private readonly onHanded: () => void,
    /** Stores a lone new job already claimed for it (PostgreSQL; ClaimHandoff.firstFor). */
    readonly claimNew?: ClaimNew,
  ) {}

  /** Serves every queue (no --queues): when it finds nothing, nobody here would. */
  get servesAll(): boolean {
    return this.served === undefined;
  }

  serves(queue: string): boolean {
    return this.served === undefined || this.served.includes(queue);
  }

  /** Resolves once an offer in progress is committed (handed) or undone (waiting again). */
  async offerSettled(): Promise<void> {
    if (this.state === 'offered') await this.settling;
  }

  offer(): void {
    this.state = 'offered';
    this.settling = new Promise<void>((resolve) => (this.settled = resolve));
  }

  hand(jobs: ClaimedJob[]): void {
    this.state = 'handed';
    this.jobs = jobs;
    this.settled?.();
    this.onHanded();
  }

  undo(): void {
    this.state = 'waiting';
    this.jobs = [];
    this.settled?.();
  }
}

/** Jobs claimed for waiting claims inside one unit of work: handed over once it commits. */
export class Handover {
  constructor(private readonly given: Array<[WaitingClaim, ClaimedJob[]]>) {}

  /** Whether every one of `ids` went to a waiting claim (so nobody else need look for them). */
  tookAll(ids: string[]): boolean {
    const taken = new Set(this.given.flatMap(([, jobs]) => jobs.map((j) => j.id)));
    return ids.every((id) => taken.has(id));
  }

  /** The unit committed: each waiting claim gets its jobs. */
  deliver(): void {
    for (const [w, jobs] of this.given) w.hand(jobs);
  }

  /** The unit was rolled back (or is run again): the claims wait on as if never offered. */
  undo(): void {
    for (const [w] of this.given) if (w.state === 'offered') w.undo();
  }
}

/**
 * Hands new work to the claims long-polling in this service inside the transaction that makes
 * it due. An enqueue claims the jobs it inserts for the waiting workers in its own unit of work,
 * so one commit (one fsync) covers the insert and the claim, and the worker is answered when the
 * enqueue is, with no wake-up and no transaction of its own in between. The claim is the same
 * as the worker's own (priority, due time, queues' pauses and limits, the worker's --queues), so
 * a waiting claim may also get an older job than the one enqueued.
 *
 * What is not handed over (no claim waiting here; other replicas' claims) is found as before:
 * the commit's "work available" signal wakes every waiting claim, here and on the other replicas.
 */
@Injectable()
export class ClaimHandoff {
  /** Oldest first: the worker that has waited longest is offered work first. */
  private readonly waiting = new Set<WaitingClaim>();

  /** How many claims here wait to be offered work. */
  waitingClaims(): number {
    let n = 0;
    for (const w of this.waiting) if (w.state === 'waiting') n++;
    return n;
  }

  /** Some claim here waits to be offered work. */
  anyWaiting(): boolean {
    return this.waitingClaims() > 0;
  }

  /**
   * The claim a lone new job of `queue` goes to by itself (JobsService.insertAlone): the one that
   * has waited longest, if it serves that queue and can take a job that way. Undefined otherwise,
   * and the job goes in a unit of work that offers it to every waiting claim (`offer`).
   */
  firstFor(queue: string): WaitingClaim | undefined {
    for (const w of this.waiting) if (w.state === 'waiting') return w.claimNew !== undefined && w.serves(queue) ? w : undefined;
    return undefined;
  }

  /** Registers a long-polling claim until `leave`. */
  wait(claimIn: ClaimIn, served: readonly string[] | undefined, onHanded: () => void, claimNew?: ClaimNew): WaitingClaim {
    const w = new WaitingClaim(claimIn, served, onHanded, claimNew);
    this.waiting.add(w);
    return w;
  }

  /**
   * The claim stops waiting. Once it has left it is offered nothing; a claim offered work waits
   * for that offer to settle first (`offerSettled`), and its `state` then says whether it got jobs.
   */
  leave(w: WaitingClaim): void {
    this.waiting.delete(w);
    if (w.state === 'waiting') w.state = 'left';
  }

  /**
   * In `sql`, a unit of work that made jobs due and read `queues`: claims for the waiting claims,
   * oldest first, until one that serves every queue finds nothing. Call `deliver` on the answer
   * after the unit commits and `undo` when it fails or runs again.
   */
  async offer(sql: Sql, queues: QueueSettings): Promise<Handover> {
    const given: Array<[WaitingClaim, ClaimedJob[]]> = [];
    const handover = new Handover(given);
    for (const w of [...this.waiting]) {
      if (w.state !== 'waiting') continue;
      w.offer();
      let jobs: ClaimedJob[];
      try {
        jobs = await w.claimIn(sql, queues);
      } catch (e) {
        w.undo();
        handover.undo();
        throw e;
      }
      if (jobs.length === 0) {
        w.undo();
        if (w.servesAll) break;
        continue;
      }
      given.push([w, jobs]);
    }
    return handover;
  }
}
