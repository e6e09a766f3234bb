import { Injectable } from '@nestjs/common';
import { InvalidInput, JobNotFound } from '../common/domain-errors';
import { lastLines } from '../common/last-lines';
import { ConfigService } from '../config/config.service';
import { JobSignals } from './job-signals';
import { JobsRepository } from './jobs.repository';

export interface OutputText {
  run: number | null;
  text: string;
  truncated: boolean;
  finished: boolean;
}

/** What a follower of a run's output is sent, in order. */
export type OutputEvent =
  | { type: 'run'; run: number }
  | { type: 'output'; data: string }
  | { type: 'end'; run: number; state: string; exit_code: number | null; error: string | null; truncated: boolean };

/** Followers look again at least this often, should a change signal be missed. */
const FOLLOW_POLL_MS = 1000;

/** A job's output per run: read whole or as a tail, or followed while the run writes it. */
@Injectable()
export class JobOutputService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly signals: JobSignals,
    private readonly config: ConfigService,
  ) {}

  /** The output of run `run` (default: the newest), optionally only its last `tail` lines. */
  async read(id: string, run?: number, tail?: number): Promise<OutputText> {
    const chosen = await this.chooseRun(id, run);
    if (chosen === undefined) return { run: null, text: '', truncated: false, finished: false };
    const slice = await this.jobs.outputFrom(id, chosen, 0);
    const truncated = Boolean(Number(slice?.output_truncated ?? 0));
    let text = slice?.data ?? '';
    if (tail !== undefined) text = lastLines(text, tail);
    if (truncated) text += this.truncationMark(text);
    return { run: chosen, text, truncated, finished: slice?.finished_at !== null && slice?.finished_at !== undefined };
  }

  /**
   * Sends a run's output as it is written, then its end. Without `run` it follows the newest run,
   * waiting for the first one of a job that has not started yet. Stops when `closed` resolves.
   */
  async follow(id: string, run: number | undefined, send: (event: OutputEvent) => void, closed: Promise<void>): Promise<void> {
    await this.checkRun(id, run);
    if (run !== undefined) send({ type: 'run', run });
    let wake: () => void = () => undefined;
    let gone = false;
    void closed.then(() => {
      gone = true;
      wake();
    });
    const off = this.signals.onJobChanged((changed) => changed === id && wake());
    try {
      let chosen = run;
      let offset = 0;
      let last = '';
      while (!gone) {
        const changed = new Promise<void>((resolve) => (wake = resolve));
        if (chosen === undefined) {
          chosen = await this.jobs.latestRun(id);
          if (chosen !== undefined) send({ type: 'run', run: chosen });
        }
        if (chosen !== undefined) {
          const slice = await this.jobs.outputFrom(id, chosen, offset);
          if (!slice) return;
          if (slice.data.length > 0) {
            offset += slice.data.length;
            last = slice.data;
            send({ type: 'output', data: slice.data });
          }
          if (slice.finished_at !== null) {
            const [job, attempts] = await Promise.all([this.jobs.findById(id), this.jobs.findAttempts(id)]);
            const attempt = attempts.find((a) => Number(a.run) === chosen);
            const truncated = Boolean(Number(slice.output_truncated));
            if (truncated) send({ type: 'output', data: this.truncationMark(last) });
            send({
              type: 'end',
              run: chosen,
              state: job?.state ?? 'unknown',
              exit_code: attempt?.exit_code ?? null,
              error: attempt?.error ?? null,
              truncated,
            });
            return;
          }
        }
        await Promise.race([changed, new Promise((r) => setTimeout(r, FOLLOW_POLL_MS).unref())]);
      }
    } finally {
      off();
    }
  }

  /** Throws when the job, or the given run of it, does not exist. */
  async checkRun(id: string, run?: number): Promise<void> {
    await this.chooseRun(id, run);
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

  private truncationMark(before: string): string {
    return `${before === '' || before.endsWith('\n') ? '' : '\n'}[queuectl: output truncated after ${this.config.get('output-limit')} bytes]\n`;
  }
}
