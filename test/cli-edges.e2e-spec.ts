import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CliResult, api, markerLines, runOnTerminal, startService, waitFor } from './support/harness';
import { enqueue, job, runCli, setConfig, startWorker, useQueue, waitForState, waitForWorkers } from './support/workers';

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

  it('worker start refuses an idle timeout longer than a timer holds, instead of exiting at once', async () => {
    expectRefused(await runCli(['worker', 'start', '--idle-timeout', '30d'], q.home), 2, /--idle-timeout.*at most 24d/);
  });
});

/** A refused command: exit code, nothing on stdout, one `queuectl: …` line on stderr. */
function expectRefused(r: CliResult, code: number, message: RegExp): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: '' });
  expect(r.stderr).toMatch(/^queuectl: [^\n]+\n$/);
  expect(r.stderr).toMatch(message);
}

describe('spellings of other queuectl tools, and help', () => {
  const q = useQueue('queuectl-spellings-');
  const cli = (args: string[]) => runCli(args, q.home);

  it('takes the unambiguous aliases', async () => {
    const id = ok(await cli(['run', '--max-retries', '5', '--', 'true'])).stdout.trim();
    expect((await job(q.svc, id)).max_retries).toBe(5);
    expect(ok(await cli(['config', 'set', 'base_backoff', '3'])).stdout).toBe('backoff-base = 3\n');
    expect(ok(await cli(['config', 'set', 'max_retries', '4'])).stdout).toBe('max-retries = 4\n');
    expect(ok(await cli(['config', 'get', 'base-backoff'])).stdout).toBe('3\n');
    expectRefused(await cli(['run', '--max-retries', '5', '--retries', '4', '--', 'true']), 2, /same option/);
  });

  it('answers the others with exit 2 and a "did you mean" naming the right command, key or option', async () => {
    const before = (await api(q.svc, 'GET', '/api/jobs')).body;
    expectRefused(await cli(['enqueue', 'echo hi', '--id', 'X']), 2, /unknown option '--id' \(did you mean queuectl run --id <value> -- <command…>\? .*"id"/);
    expectRefused(await cli(['worker', 'start', '--timeout', '5000']), 2, /unknown option '--timeout' \(did you mean --idle-timeout .*queuectl run --timeout 5s.*config set job-timeout/);
    expectRefused(await cli(['dashboard', '--port', '8000']), 2, /unknown command 'dashboard' \(.*queuectl serve --port 8000/);
    expectRefused(await cli(['config', 'set', 'retries', '5']), 2, /unknown config key "retries" \(did you mean max-retries\?\); known keys: max-retries, /);
    expectRefused(await cli(['config', 'get', 'timeout']), 2, /did you mean job-timeout or lease-timeout\?/);
    expectRefused(await cli(['lsit']), 2, /unknown command 'lsit' \(Did you mean list\?\)/);
    expect((await api(q.svc, 'GET', '/api/jobs')).body).toEqual(before);
    expect(ok(await cli(['config', 'get', 'max-retries'])).stdout).toBe('3\n');
  });

  it('help and help <command> print help on stdout and exit 0', async () => {
    const help = await cli(['help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: queuectl \[options\] \[command\]\n/);
    expect(help.stdout).toContain('Exit codes:');
    const run = await cli(['help', 'run']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: queuectl run \[options\] <command\.\.\.>\n/);
    // No command at all is still a usage error.
    expect((await cli([])).code).toBe(2);
  });
});

describe('the DLQ as people see it', () => {
  const q = useQueue('queuectl-dlq-view-');
  const cli = (args: string[]) => runCli(args, q.home);

  it('dlq list shows each dead job\'s last error; the worker says when a failure sends a job there', async () => {
    await setConfig(q.svc, 'backoff-base', 1);
    ok(await cli(['run', '--id', 'twice', '--retries', '1', '--', 'exit 3']));
    ok(await cli(['run', '--id', 'missing', '--retries', '0', '--', 'no-such-program-here']));
    const worker = startWorker(q.home);
    await waitForState(q.svc, 'twice', 'dead');
    await waitForState(q.svc, 'missing', 'dead');

    const table = ok(await cli(['dlq', 'list'])).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+STATE\s+ATTEMPTS\s+UPDATED\s+LAST ERROR\s+COMMAND$/);
    expect(table).toEqual(expect.arrayContaining([
      expect.stringMatching(/^twice\s+dead\s+2\/2\s+.*\s+exit code 3\s+exit 3$/),
      expect.stringMatching(/^missing\s+dead\s+1\/1\s+.*\s+command not found \(exit code 127\)\s+no-such-program-here$/),
    ]));

    await waitFor(() => /job missing .* moved to the DLQ/.test(worker.output()), 10_000, 'the worker\'s line');
    const lines = worker.output().split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/job twice \(attempt 1\) failed: exit code 3 after \d+ ms; will be retried$/),
      expect.stringMatching(/job twice \(attempt 2\) failed: exit code 3 after \d+ ms; no retries left: moved to the DLQ \(queuectl dlq list\)$/),
      expect.stringMatching(/job missing \(attempt 1\) failed: exit code 127 after \d+ ms; no retries left: moved to the DLQ/),
    ]));
  });
});

describe('worker start --count', () => {
  const q = useQueue('queuectl-count-');

  it('says in its first line how many processes it starts for --count and why, and starts that many', async () => {
    const processes = Math.min(4, availableParallelism());
    const worker = startWorker(q.home, ['--count', '4']);
    await waitForWorkers(q.svc, processes);
    const first = worker.output().split('\n')[0];
    expect(first).toMatch(new RegExp(`queuectl worker \\d+: running up to 4 job\\(s\\) at once in ${processes} worker process\\(es\\) of \\d(–\\d)? job\\(s\\) each`));
    if (processes > 1) expect(first).toContain(`(one per CPU, ${availableParallelism()} CPUs, at most one per job: a process starts one command at a time`);
    const workers = (await api(q.svc, 'GET', '/api/workers')).body.workers as Array<{ pid: number; concurrency: number }>;
    expect(new Set(workers.map((w) => w.pid)).size).toBe(processes);
    expect(workers.reduce((sum, w) => sum + w.concurrency, 0)).toBe(4);
  });
});

describe('terminal escapes in list and show', () => {
  const q = useQueue('queuectl-escapes-');

  it('are shown escaped on a terminal, and passed on raw with --json and through a pipe', async () => {
    const command = "printf done # \x1b[2J\x1b]0;owned\x07";
    await enqueue(q.svc, { id: 'esc', command });
    const env = { QUEUECTL_HOME: q.home };
    for (const args of [['list'], ['show', 'esc'], ['list', '--search', 'printf']]) {
      const { code, screen } = await runOnTerminal(args, env);
      expect(code).toBe(0);
      expect(screen.toString()).toContain('printf done # \\x1b[2J\\x1b]0;owned\\x07');
      expect(screen.includes(0x1b)).toBe(false);
      expect(screen.includes(0x07)).toBe(false);
    }
    const json = await runOnTerminal(['show', 'esc', '--json'], env);
    expect(JSON.parse(json.screen.toString()).command).toBe(command);
    expect(ok(await runCli(['list'], q.home)).stdout).toContain(command);
    expect(ok(await runCli(['show', 'esc'], q.home)).stdout).toContain(command);
  });
});

describe('restoring a reset backup', () => {
  const q = useQueue('queuectl-restore-');
  const cli = (args: string[]) => runCli(args, q.home);

  it('the README\'s steps bring back every job the reset deleted', async () => {
    ok(await cli(['run', '--id', 'kept-1', '--delay', '1h', '--', 'echo', 'one']));
    ok(await cli(['run', '--id', 'kept-2', '--delay', '1h', '--', 'echo', "it's two"]));
    const { backup, deleted } = JSON.parse(ok(await cli(['reset', '--yes', '--json'])).stdout);
    expect(deleted).toBe(2);
    expect(backup).toMatch(/\/backups\/queue-[0-9T-]+Z\.db$/);
    ok(await cli(['run', '--id', 'after-reset', '--', 'true']));

    // The README's commands, with the service stopped.
    await q.svc.stop();
    const restore = spawnSync('/bin/sh', ['-ec', 'mkdir -p backups/replaced && mv -f queue.db* backups/replaced/ && cp "$1" queue.db && chmod 600 queue.db', 'sh', backup], { cwd: q.home, encoding: 'utf8' });
    expect(restore).toMatchObject({ status: 0, stderr: '' });
    q.svc = await startService(q.home);

    const jobs = JSON.parse(ok(await cli(['list', '--json'])).stdout) as Array<{ id: string; command: string; state: string }>;
    expect(jobs.map((j) => [j.id, j.command, j.state]).sort()).toEqual([
      ['kept-1', 'echo one', 'pending'],
      ['kept-2', "echo 'it'\\''s two'", 'pending'],
    ]);
  });
});
