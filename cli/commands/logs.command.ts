import { Command } from 'commander';
import { lastLines } from '../../src/common/last-lines';
import { CliContext } from '../context';
import { UsageError } from '../exit-codes';
import { integerParser } from '../input';
import { note } from '../render';
import { readEvents } from '../sse-client';

/** `logs <id>`: a job's output, whole, as a tail, or followed while it runs. */

interface RunEnd {
  run: number;
  state: string;
  exit_code: number | null;
  error: string | null;
}

interface Runs {
  runs: Array<{ run: number; attempt: number }>;
}

/**
 * `--attempt K` is the K-th run that `show` lists (1 = the first time the job ran); the API
 * names runs by their number, which a DLQ retry does not reset and a handed-back claim skips.
 */
async function runNumber(ctx: CliContext, id: string, attempt: number | undefined): Promise<number | undefined> {
  if (attempt === undefined) return undefined;
  const { runs } = await ctx.call<Runs>('GET', `/api/jobs/${encodeURIComponent(id)}`);
  const run = runs[attempt - 1];
  if (!run) throw new UsageError(`job "${id}" has ${runs.length === 0 ? 'not run yet' : `run ${runs.length} time(s); --attempt must be 1 to ${runs.length}`}`);
  return run.run;
}

function query(options: { run?: number; tail?: number }): string {
  const params = new URLSearchParams();
  if (options.run !== undefined) params.set('run', String(options.run));
  if (options.tail !== undefined) params.set('tail', String(options.tail));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Prints output as the service sends it, until the run ends; returns how it ended. */
async function follow(ctx: CliContext, id: string, options: { run?: number; tail?: number }): Promise<RunEnd | undefined> {
  let end: RunEnd | undefined;
  let first = true;
  await readEvents(await ctx.endpoint(), `/api/jobs/${encodeURIComponent(id)}/output/stream${query({ run: options.run })}`, (event) => {
    if (event.event === 'output') {
      let text = JSON.parse(event.data) as string;
      // The first output event holds everything written so far: that is what --tail cuts.
      if (first && options.tail !== undefined) text = lastLines(text, options.tail);
      first = false;
      process.stdout.write(text);
    } else if (event.event === 'end') {
      end = JSON.parse(event.data) as RunEnd;
    } else if (event.event === 'run' && options.run === undefined) {
      first = true;
    }
  });
  return end;
}

export function registerLogsCommands(program: Command, ctx: CliContext): void {
  program
    .command('logs <id>')
    .description("a job's output (stdout and stderr) of its latest run, or of --attempt K")
    .option('--tail <n>', 'only the last N lines', integerParser(0))
    .option('-f, --follow', 'keep printing output as it is written, until the run ends (waits for a job to start)')
    .option('--attempt <k>', 'the K-th run of the job, as `show` lists them (default: the latest)', integerParser(1))
    .action(async (id: string, options: { tail?: number; follow?: boolean; attempt?: number }) => {
      const run = await runNumber(ctx, id, options.attempt);
      if (options.follow) {
        const end = await follow(ctx, id, { run, tail: options.tail });
        if (end) note(`run ${end.run} ended: ${end.state}${end.error ? ` (${end.error})` : end.exit_code !== null ? ` (exit code ${end.exit_code})` : ''}`);
        return;
      }
      const text = await ctx.call<string>('GET', `/api/jobs/${encodeURIComponent(id)}/output${query({ run, tail: options.tail })}`, { text: true });
      process.stdout.write(typeof text === 'string' ? text : '');
    });
}
