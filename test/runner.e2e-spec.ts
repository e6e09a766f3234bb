import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, RunOptions } from '../cli/worker/command-runner';
import { waitFor } from './support/harness';
import { running } from './support/workers';

/** The command runner on real /bin/sh commands: exit status, process groups, timeouts, output bounds. */
describe('CommandRunner', () => {
  let dir: string;
  const runner = new CommandRunner(undefined, 300);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'queuectl-runner-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(command: string, options: Partial<RunOptions> = {}) {
    const output: Buffer[] = [];
    const running = runner.start({
      command,
      env: { PATH: '/usr/bin:/bin', ...options.env },
      timeoutMs: options.timeoutMs ?? null,
      outputLimitBytes: options.outputLimitBytes ?? 1024 * 1024,
      onOutput: (bytes) => {
        output.push(bytes);
        options.onOutput?.(bytes);
      },
    });
    return { running, done: running.done, bytes: () => Buffer.concat(output), output: () => Buffer.concat(output).toString('utf8') };
  }

  const pidIn = (file: string): Promise<number> => waitFor(() => Number(readFileSync(file, 'utf8').trim()), 5000, `a pid in ${file}`);

  it('runs the command with /bin/sh -c and captures stdout and stderr', async () => {
    const r = run(`echo "out: $QUEUECTL_TEST"; echo err >&2; exit 7`, { env: { QUEUECTL_TEST: 'é ✓' } });
    expect(await r.done).toEqual({ exitCode: 7, signal: null, error: null, truncated: false });
    expect(r.output()).toContain('out: é ✓\n');
    expect(r.output()).toContain('err\n');
  });

  it('reports a missing command as exit 127 and a signal by name', async () => {
    expect((await run('no-such-command-0815').done).exitCode).toBe(127);
    expect(await run('kill -TERM $$').done).toMatchObject({ exitCode: null, signal: 'SIGTERM', error: null });
  });

  it('runs the command in a process group of its own', async () => {
    const r = run(`ps -o pgid= -p $$ > '${dir}/pgid'; echo $$ > '${dir}/self'`);
    await r.done;
    expect(Number(readFileSync(join(dir, 'pgid'), 'utf8'))).toBe(Number(readFileSync(join(dir, 'self'), 'utf8')));
    expect(Number(readFileSync(join(dir, 'pgid'), 'utf8'))).not.toBe(process.pid);
  });

  it('on timeout kills the whole process group and leaves no orphan', async () => {
    const r = run(`sleep 100 & echo $! > '${dir}/bg'; sleep 100`, { timeoutMs: 300 });
    const bg = await pidIn(join(dir, 'bg'));
    const outcome = await r.done;
    expect(outcome.error).toBe('timeout');
    expect(outcome.signal).toBe('SIGTERM');
    await waitFor(() => !running(bg), 3000, 'the background sleep to be gone');
  });

  it('follows SIGTERM with SIGKILL after the grace period for a command that ignores it', async () => {
    const r = run(`trap '' TERM; echo $$ > '${dir}/stubborn'; while :; do sleep 0.05; done`, { timeoutMs: 200 });
    const pid = await pidIn(join(dir, 'stubborn'));
    const outcome = await r.done;
    expect(outcome).toMatchObject({ signal: 'SIGKILL', error: 'timeout' });
    expect(running(pid)).toBe(false);
  });

  it('cancels a running command by killing its group', async () => {
    const r = run(`sleep 60 & echo $! > '${dir}/cancel-bg'; wait`);
    const bg = await pidIn(join(dir, 'cancel-bg'));
    r.running.stop('cancelled');
    expect((await r.done).error).toBe('cancelled');
    await waitFor(() => !running(bg), 3000, 'the cancelled child to be gone');
  });

  it('does not wait for a background child that keeps the output pipe open, and ends it with the job', async () => {
    const r = run(`sleep 30 & echo $! > '${dir}/holder'; echo started`);
    const outcome = await r.done;
    expect(outcome).toEqual({ exitCode: 0, signal: null, error: null, truncated: false });
    const holder = Number(readFileSync(join(dir, 'holder'), 'utf8'));
    await waitFor(() => !running(holder), 3000, 'the left-over child to be ended');
    expect(r.output()).toBe('started\n');
  });

  it('passes on only the first output-limit bytes of 10 MB and marks the rest as cut', async () => {
    let calls = 0;
    const r = run(`head -c 10485760 /dev/zero | tr '\\0' x; echo done >&2`, { outputLimitBytes: 65536, onOutput: () => calls++ });
    const outcome = await r.done;
    expect(outcome).toEqual({ exitCode: 0, signal: null, error: null, truncated: true });
    expect(Buffer.byteLength(r.output())).toBe(65536);
    expect(r.output()).toMatch(/^x+$/);
    expect(calls).toBeGreaterThan(0);
  });

  it('passes on the bytes as written, undecoded: multi-byte characters, NUL and bytes that are not UTF-8', async () => {
    const r = run(`i=0; while [ $i -lt 3000 ]; do printf 'ü€\\000\\377'; i=$((i+1)); done`);
    await r.done;
    expect(r.bytes()).toEqual(Buffer.concat(Array.from({ length: 3000 }, () => Buffer.concat([Buffer.from('ü€\0'), Buffer.from([0xff])]))));
  });
});
