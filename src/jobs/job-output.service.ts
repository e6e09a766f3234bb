import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { InvalidInput, JobNotFound } from '../common/domain-errors';
import { JobOutputRepository } from './job-output.repository';
import { JobSignals } from './job-signals';
import { JobsRepository } from './jobs.repository';

/**
 * A read of a run's output: the stored bytes from `offset` to `end` (the stored length when it
 * was read), produced page by page as they are consumed, then `mark`.
 */
export interface OutputRead {
  run: number | null;
  offset: number;
  end: number;
  truncated: boolean;
  finished: boolean;
  /** Follows the bytes: the truncation mark of an output that was cut, else empty. */
  mark: string;
  pages: AsyncIterable<Buffer> | Iterable<Buffer>;
}

export interface OutputReadOptions {
  run?: number;
  /** Only the last N lines. */
  tail?: number;
  /** From this byte on, with no mark after the bytes (the caller counts bytes). */
  offset?: number;
}

/** What a follower of a run's output is sent, in order. Offsets count bytes of the stored output. */
export type OutputEvent =
  | { type: 'run'; run: number }
  | { type: 'output'; run: number; offset: number; data: Buffer }
  /** The service is stopping: the stream ends here, before the run did. */
  | { type: 'closed'; reason: string }
  | {
      type: 'end';
      run: number;
      state: string;
      exit_code: number | null;
      error: string | null;
      truncated: boolean;
      /** The stored length of the output. */
      bytes: number;
      mark: string;
    };

/** Followers look again at least this often, should a change signal be missed. */
const FOLLOW_POLL_MS = 1000;
/** Most bytes read from the database at once: a page of a read, or one follower event. */
const PAGE_BYTES = 256 * 1024;
/** Chunks fetched per step while walking back from the end to find the last lines. */
const TAIL_STEP_CHUNKS = 32;
const NEWLINE = 0x0a;

/**
 * A job's output per run, as bytes: read whole, from a byte offset or as its last lines, or
 * followed while the run writes it. Every read costs what it returns, not the stored total.
 */
@Injectable()
export class JobOutputService implements OnModuleDestroy {
  /** Set when the service stops: every follower gets a last event and its stream ends. */
  private closing = false;
  private readonly closingEvents = new EventEmitter();

  constructor(
    private readonly jobs: JobsRepository,
    private readonly output: JobOutputRepository,
    private readonly signals: JobSignals,
  ) {
    this.closingEvents.setMaxListeners(0);
  }

  /**
   * Ends every follow at once (Nest calls this before the HTTP server closes): a stream held
   * open by a follower would otherwise keep the server, and the stopping service, alive.
   */
  onModuleDestroy(): void {
    this.closing = true;
    this.closingEvents.emit('closing');
  }

  /** The output of run `run` (default: the newest), whole, from `offset`, or its last `tail` lines. */
  async read(id: string, options: OutputReadOptions = {}): Promise<OutputRead> {
    if (options.tail !== undefined && options.offset !== undefined) throw new InvalidInput('give tail or offset, not both');
    const run = await this.chooseRun(id, options.run);
    if (run === undefined) return { run: null, offset: 0, end: 0, truncated: false, finished: false, mark: '', pages: [] };
    const state = await this.output.outputState(id, run);
    const end = Number(state?.output_bytes ?? 0);
    const truncated = Boolean(Number(state?.output_truncated ?? 0));
    const offset = options.tail !== undefined ? await this.tailStart(id, run, end, options.tail) : Math.min(options.offset ?? 0, end);
    return {
      run,
      offset,
      end,
      truncated,
      finished: state !== undefined && state.finished_at !== null,
      mark: truncated && options.offset === undefined ? await this.truncationMark(id, run, end) : '',
      pages: this.pages(id, run, offset, end),
    };
  }

  /** The last `bytes` bytes of a run's output at most, with where they start and how much is stored. */
  async lastBytes(id: string, run: number, bytes: number): Promise<{ data: Buffer; offset: number; end: number; truncated: boolean }> {
    const state = await this.output.outputState(id, run);
    const end = Number(state?.output_bytes ?? 0);
    const offset = Math.max(0, end - bytes);
    return { data: await this.output.outputRange(id, run, offset, end), offset, end, truncated: Boolean(Number(state?.output_truncated ?? 0)) };
  }

  /**
   * Sends a run's output as it is written, from byte `offset`, then its end. Without `run` it
   * follows the newest run, waiting for the first one of a job that has not started yet. Each
   * `send` is awaited, so a slow reader holds back reading, not memory. Stops when `closed` resolves.
   */
  async follow(id: string, run: number | undefined, offset: number, send: (event: OutputEvent) => Promise<void>, closed: Promise<void>): Promise<void> {
    await this.checkFollow(id, run, offset);
    if (run !== undefined) await send({ type: 'run', run });
    let wake: () => void = () => undefined;
    let gone = false;
    void closed.then(() => {
      gone = true;
      wake();
    });
    const off = this.signals.onJobChanged((changed) => changed === id && wake());
    const onClosing = () => wake();
    this.closingEvents.on('closing', onClosing);
    try {
      let chosen = run;
      let at = offset;
      while (!gone) {
        if (this.closing) {
          await send({ type: 'closed', reason: 'the service is stopping' });
          return;
        }
        const changed = new Promise<void>((resolve) => (wake = resolve));
        if (chosen === undefined) {
          chosen = await this.jobs.latestRun(id);
          if (chosen !== undefined) await send({ type: 'run', run: chosen });
        }
        if (chosen !== undefined) {
          const state = await this.output.outputState(id, chosen);
          if (!state) return;
          const end = Number(state.output_bytes);
          while (at < end && !gone) {
            const data = await this.output.outputRange(id, chosen, at, Math.min(end, at + PAGE_BYTES));
            if (data.length === 0) return;
            await send({ type: 'output', run: chosen, offset: at, data });
            at += data.length;
          }
          // A finished run gets no more output (appending checks that), so `end` was the last of it.
          if (state.finished_at !== null) {
            if (!gone) await send(await this.endEvent(id, chosen, end, Boolean(Number(state.output_truncated))));
            return;
          }
        }
        await Promise.race([changed, new Promise((r) => setTimeout(r, FOLLOW_POLL_MS).unref())]);
      }
    } finally {
      off();
      this.closingEvents.off('closing', onClosing);
    }
  }

  /** Throws when the job, or the given run of it, does not exist, or an offset comes without its run. */
  async checkFollow(id: string, run: number | undefined, offset: number): Promise<void> {
    if (run === undefined && offset > 0) throw new InvalidInput('offset needs run: a byte offset belongs to one run');
    await this.chooseRun(id, run);
  }

  private async endEvent(id: string, run: number, end: number, truncated: boolean): Promise<OutputEvent> {
    const [job, attempts] = await Promise.all([this.jobs.findById(id), this.jobs.findAttempts(id)]);
    const attempt = attempts.find((a) => Number(a.run) === run);
    return {
      type: 'end',
      run,
      state: job?.state ?? 'unknown',
      exit_code: attempt?.exit_code ?? null,
      error: attempt?.error ?? null,
      truncated,
      bytes: end,
      mark: truncated ? await this.truncationMark(id, run, end) : '',
    };
  }

  private async chooseRun(id: string, run?: number): Promise<number | undefined> {
    const job = await this.jobs.findById(id);
    if (!job) throw new JobNotFound(id);
    if (run === undefined) return this.jobs.latestRun(id);
    const attempts = await this.jobs.findAttempts(id);
    if (!attempts.some((a) => Number(a.run) === run)) {
      throw new InvalidInput(`job "${id}" has no run ${run}${attempts.length ? ` (runs: 1–${attempts[attempts.length - 1].run})` : ' (it has not run yet)'}`);
    }
    return run;
  }

  private async *pages(id: string, run: number, from: number, to: number): AsyncGenerator<Buffer> {
    for (let at = from; at < to; ) {
      const page = await this.output.outputRange(id, run, at, Math.min(to, at + PAGE_BYTES));
      // Empty only when the run was deleted meanwhile (a purge): the answer cannot be completed.
      if (page.length === 0) throw new Error(`the output of job "${id}" run ${run} was deleted while it was read`);
      yield page;
      at += page.length;
    }
  }

  /**
   * Where the last `n` lines of the first `end` bytes start (a trailing newline does not start a
   * line of its own). Walks back from the end a few chunks at a time, keeping none of them.
   */
  private async tailStart(id: string, run: number, end: number, n: number): Promise<number> {
    if (n <= 0) return end;
    let need = n;
    let before = end;
    let last = true;
    for (;;) {
      const chunks = await this.output.outputChunksBefore(id, run, before, TAIL_STEP_CHUNKS);
      for (const chunk of chunks) {
        const data = chunk.data.subarray(0, Math.max(0, end - chunk.byte_offset));
        let pos = data.length;
        if (last && pos > 0) {
          last = false;
          if (data[pos - 1] === NEWLINE) pos--;
        }
        while (pos > 0) {
          const nl = data.lastIndexOf(NEWLINE, pos - 1);
          if (nl < 0) break;
          if (--need === 0) return chunk.byte_offset + nl + 1;
          pos = nl;
        }
      }
      if (chunks.length < TAIL_STEP_CHUNKS) return 0;
      before = chunks[chunks.length - 1].byte_offset;
    }
  }

  /** The line that says output was cut, after the `end` bytes that were kept. */
  private async truncationMark(id: string, run: number, end: number): Promise<string> {
    const last = end > 0 ? await this.output.outputRange(id, run, end - 1, end) : Buffer.alloc(0);
    return `${last.length === 0 || last[0] === NEWLINE ? '' : '\n'}[queuectl: output truncated after ${end} bytes]\n`;
  }
}
