import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliResult, markerLines, waitFor } from './support/harness';
import { enqueue, job, runCli, startWorker, useQueue, waitForState } from './support/workers';

/**
 * The CLI at the edges a new user meets first: how `run` passes words, long timeouts, spellings
 * from other tools, help, the DLQ, worker processes and terminal escapes. Real service, real
 * workers, real shell commands.
 */

function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`queuectl exited ${r.code}: ${r.stderr}`);
  return r;
}

describe('queuectl run', () => {
  const q = useQueue('queuectl-cli-edges-');
  const cli = (args: string[]) => runCli(args, q.home);

  it('gives the command each word after -- as the same word, and shows the command it stored', async () => {
    const script = join(q.home, 'args.sh');
    writeFileSync(script, '#!/bin/sh\necho "$#"\nfor a in "$@"; do echo "[$a]"; done\n');
    chmodSync(script, 0o755);

    const words = ok(await cli(['run', '--', script, '--full', 'my db']));
    const id = words.stdout.trim();
    expect(words.stderr).toBe(`queuectl: enqueued ${id}: ${script} --full 'my db'\n`);
    const apostrophe = ok(await cli(['run', '--', 'echo', "it's"])).stdout.trim();
    // One argument is still a whole command line for the shell.
    const pipeline = ok(await cli(['run', 'echo a | tr a A'])).stdout.trim();

    startWorker(q.home);
    await waitForState(q.svc, id, 'completed');
    await waitForState(q.svc, apostrophe, 'completed');
    await waitForState(q.svc, pipeline, 'completed');
    expect(ok(await cli(['logs', id])).stdout).toBe('2\n[--full]\n[my db]\n');
    expect((await job(q.svc, apostrophe)).command).toBe(`echo 'it'\\''s'`);
    expect(ok(await cli(['logs', apostrophe])).stdout).toBe("it's\n");
    expect(ok(await cli(['logs', pipeline])).stdout).toBe('A\n');
  });
});

describe('a long timeout', () => {
  const q = useQueue('queuectl-long-timeout-');

  it('a 30-day timeout_seconds lets the command run (past the 24.8 days a single Node timer holds)', async () => {
    await enqueue(q.svc, { id: 'month', command: `echo started >> '${q.marker}'; sleep 60`, timeout_seconds: 30 * 86_400, max_retries: 0 });
    startWorker(q.home);
    await waitFor(() => markerLines(q.marker).length === 1, 20_000, 'the command to start');
    await new Promise((r) => setTimeout(r, 1500));
    const now = await job(q.svc, 'month');
    expect({ state: now.state, last_error: now.last_error }).toEqual({ state: 'processing', last_error: null });
  });
});
