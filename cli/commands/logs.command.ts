import { Command } from 'commander';
import type { IncomingMessage } from 'node:http';
import { CliContext } from '../context';
import { CommandFailed, EXIT, UsageError } from '../exit-codes';
import { integerParser } from '../input';
import { note } from '../render';
import { openStream, readBody, readEvents } from '../sse-client';
import { VisibleText } from '../terminal-bytes';

/**
 * `logs <id>`: a job's output, whole, as a tail, or followed while it runs. Output is bytes: piped
 * (or with --raw) they reach stdout exactly as the command wrote them; on a terminal, bytes that
 * are not UTF-8 and control characters are shown escaped, so output cannot drive the terminal.
 * A job with no output says so on stderr and exits 0: the job is there, its output is empty.
 */

interface RunEnd {
  run: number;
  state: string;
  exit_code: number | null;
  error: string | null;
  bytes: number;
  mark: string;
}

interface Runs {
  runs: Array<{ run: number; attempt: number }>;
}

interface LogsOptions {
  tail?: number;
  follow?: boolean;
  attempt?: number;
  raw?: boolean;
}

/** Where output goes: the bytes themselves, or their visible form. */
interface Sink {
  write(bytes: Buffer): void;
  end(): void;
}

function stdoutSink(raw: boolean): Sink {
  if (raw) return { write: (bytes) => process.stdout.write(bytes), end: () => undefined };
  const text = new VisibleText();
  return { write: (bytes) => process.stdout.write(text.write(bytes)), end: () => process.stdout.write(text.end()) };
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

function query(options: { run?: number; tail?: number; offset?: number }): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(options)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

function header(res: IncomingMessage, name: string): number | undefined {
  const value = res.headers[name];
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
}

function sayEmpty(id: string, attempt: number | undefined, running: boolean): void {
  note(`job "${id}": ${attempt === undefined ? 'its latest run' : `attempt ${attempt}`} ${running ? 'has written no output so far' : 'wrote no output'}`);
}

/** Prints a run's output (or its last lines) as stored now; returns the run and where it stopped. */
async function printStored(ctx: CliContext, id: string, options: LogsOptions & { run?: number }, sink: Sink, withMark: boolean) {
  const res = await openStream(await ctx.endpoint(), `/api/jobs/${encodeURIComponent(id)}/output${query({ run: options.run, tail: options.tail })}`, '*/*');
  const run = header(res, 'x-queuectl-run');
  const end = header(res, 'x-queuectl-end') ?? 0;
  // The body is bytes offset..end, then the truncation mark of a cut output.
  let left = withMark ? Infinity : end - (header(res, 'x-queuectl-offset') ?? 0);
  await readBody(res, (chunk) => {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= part.length;
    if (part.length > 0) sink.write(part);
  });
  return { run, end, finished: res.headers['x-queuectl-finished'] === 'true' };
}

/** Prints output as the service sends it, until the run ends; returns how it ended. */
async function follow(ctx: CliContext, id: string, options: LogsOptions & { run?: number }, sink: Sink): Promise<RunEnd | undefined> {
  let run = options.run;
  let printed = 0;
  if (options.tail !== undefined) {
    // The last lines written so far, then everything after them.
    const stored = await printStored(ctx, id, options, sink, false);
    if (stored.run !== undefined) ({ run, end: printed } = stored);
  }
  let end: RunEnd | undefined;
  let closed: { reason: string } | undefined;
  await readEvents(await ctx.endpoint(), `/api/jobs/${encodeURIComponent(id)}/output/stream${query({ run, offset: printed || undefined })}`, (event) => {
    if (event.event === 'output') {
      const { offset, data_base64 } = JSON.parse(event.data) as { offset: number; data_base64: string };
      const bytes = Buffer.from(data_base64, 'base64');
      // Offsets are bytes of the run's output: whatever was printed already is not printed again.
      const fresh = bytes.subarray(Math.max(0, printed - offset));
      if (fresh.length > 0) sink.write(fresh);
      printed = Math.max(printed, offset + bytes.length);
    } else if (event.event === 'end') {
      end = JSON.parse(event.data) as RunEnd;
      if (end.mark) sink.write(Buffer.from(end.mark));
    } else if (event.event === 'closed') {
      closed = JSON.parse(event.data) as { reason: string };
    }
  });
  if (closed && !end) {
    sink.end();
    throw new CommandFailed(`stopped following job "${id}": ${closed.reason}; run \`queuectl logs --follow ${id}\` again to go on`, EXIT.unreachable);
  }
  return end;
}

export function registerLogsCommands(program: Command, ctx: CliContext): void {
  program
    .command('logs <id>')
    .description("a job's output (stdout and stderr) of its latest run, or of --attempt K; on a terminal, control characters and bytes that are not UTF-8 are shown escaped")
    .option('--tail <n>', 'only the last N lines', integerParser(0))
    .option('-f, --follow', 'keep printing output as it is written, until the run ends (waits for a job to start)')
    .option('--attempt <k>', 'the K-th run of the job, as `show` lists them (default: the latest)', integerParser(1))
    .option('--raw', 'the bytes exactly as written even on a terminal (escape sequences and all); piped, they always are')
    .action(async (id: string, options: LogsOptions) => {
      const run = await runNumber(ctx, id, options.attempt);
      const sink = stdoutSink(Boolean(options.raw) || !process.stdout.isTTY);
      if (options.follow) {
        const end = await follow(ctx, id, { ...options, run }, sink);
        sink.end();
        if (end?.bytes === 0) sayEmpty(id, options.attempt, false);
        if (end) note(`run ${end.run} ended: ${end.state}${end.error ? ` (${end.error})` : end.exit_code !== null ? ` (exit code ${end.exit_code})` : ''}`);
        return;
      }
      const stored = await printStored(ctx, id, { ...options, run }, sink, true);
      sink.end();
      if (stored.run === undefined) note(`job "${id}" has not run yet, so it has no output`);
      else if (stored.end === 0) sayEmpty(id, options.attempt, !stored.finished);
    });
}
