import type { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { CliContext } from '../context';
import { CommandFailed } from '../exit-codes';
import { parseDuration } from '../input';
import { note, plural, render } from '../render';
import { QueueStatus, getStatus, statusView } from './status.command';

/** `wait`: block until no job is pending, processing or failed (waiting for a retry). */

const POLL_MS = 250;

function unfinished(s: QueueStatus): number {
  return (s.counts.pending ?? 0) + (s.counts.processing ?? 0) + (s.counts.failed ?? 0);
}

function finished(s: QueueStatus): number {
  return (s.counts.completed ?? 0) + (s.counts.dead ?? 0);
}

/** Resolves with the final status once nothing is left to run; shows a bar when `progress`. */
export async function waitForQueue(ctx: CliContext, options: { timeoutSeconds?: number; progress: boolean }): Promise<QueueStatus> {
  const deadline = options.timeoutSeconds === undefined ? Infinity : Date.now() + options.timeoutSeconds * 1000;
  let status = await getStatus(ctx);
  const baseline = finished(status);
  let bar: SingleBar | undefined;
  let warnedIdle = false;
  try {
    while (unfinished(status) > 0) {
      const done = finished(status) - baseline;
      if (options.progress) {
        // Loaded only for a bar: other commands start without it.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        bar ??= new (require('cli-progress') as typeof import('cli-progress')).SingleBar({
          stream: process.stderr,
          format: 'waiting [{bar}] {value}/{total} done | {pending} pending, {processing} running, {failed} to retry',
          hideCursor: true,
          clearOnComplete: true,
        });
        const payload = { pending: status.counts.pending, processing: status.counts.processing, failed: status.counts.failed };
        if (!bar.isActive) bar.start(done + unfinished(status), done, payload);
        bar.setTotal(done + unfinished(status));
        bar.update(done, payload);
      }
      if (!warnedIdle && status.workers.active === 0) {
        warnedIdle = true;
        if (!bar) note(`no worker is running; ${plural(unfinished(status), 'job')} will wait (start one with \`queuectl worker start\`)`);
      }
      if (Date.now() > deadline) {
        throw new CommandFailed(`still ${plural(unfinished(status), 'job')} pending, processing or failed after ${options.timeoutSeconds} s`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
      status = await getStatus(ctx);
    }
  } finally {
    bar?.stop();
  }
  return status;
}

export function registerWaitCommands(program: Command, ctx: CliContext): void {
  program
    .command('wait')
    .description('block until no job is pending, processing or failed (a progress bar on a terminal)')
    .option('--timeout <duration>', 'give up after this long (exit 1)', parseDuration)
    .option('--json', 'print the final status as JSON')
    .action(async (options: { timeout?: number; json?: boolean }) => {
      const status = await waitForQueue(ctx, { timeoutSeconds: options.timeout, progress: !options.json && Boolean(process.stderr.isTTY) });
      render(status, options, statusView);
    });
}
