import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORPHAN_GUARD_SCRIPT } from './orphan-guard-script';

/**
 * The guard's script on its own, as real processes: what it kills when its pipe closes, what a
 * goodbye spares, and its watchdog. The workers' end-to-end specs (workers-crash, faults-workers)
 * cover it inside a worker.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started: ChildProcess[] = [];
/** Processes of a test that left their group, killed after it whatever its outcome. */
const escapedPids: number[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(20)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

function guard(mark: string): ChildProcess {
  const g = spawn('/bin/sh', ['-c', ORPHAN_GUARD_SCRIPT, 'queuectl-orphan-guard', mark], { detached: true, stdio: ['pipe', 'ignore', 'inherit'] });
  started.push(g);
  return g;
}

/** A command as a worker starts it: the leader of a session of its own, the mark in its environment. */
function command(script: string, mark?: string): number {
  const c = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore', env: mark ? { ...process.env, QUEUECTL_RUN_MARK: mark } : process.env });
  started.push(c);
  return c.pid!;
}

/** The pid a command wrote to `file`. */
async function pidIn(file: string): Promise<number> {
  await until('the escaped child', () => existsSync(file) && readFileSync(file, 'utf8').trim() !== '');
  return Number(readFileSync(file, 'utf8'));
}

afterEach(() => {
  for (const pid of escapedPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const c of started.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

describe('the orphan guard script', () => {
  it('kills the marked processes, even one that left the group, when its pipe closes without a goodbye', async () => {
    const mark = randomBytes(9).toString('base64url');
    const g = guard(mark);
    const file = join(tmpdir(), `queuectl-guard-spec-${mark}`);
    const leader = command(`setsid sh -c 'echo $$ > ${file}; exec sleep 60' & sleep 60`, mark);
    const escaped = await pidIn(file);
    escapedPids.push(escaped);
    rmSync(file);
    const unmarked = command('sleep 60');
    const exited = new Promise((r) => g.once('exit', r));
    g.stdin!.destroy();
    await exited;
    await until('the marked processes to die', () => !alive(leader) && !alive(escaped));
    expect(alive(unmarked)).toBe(true);
  });

  it('spares them after a goodbye', async () => {
    const mark = randomBytes(9).toString('base64url');
    const g = guard(mark);
    const pid = command('sleep 60', mark);
    const exited = new Promise((r) => g.once('exit', r));
    g.stdin!.end('bye\n');
    await exited;
    await sleep(100);
    expect(alive(pid)).toBe(true);
  });

  it('at the deadline sends SIGTERM, and SIGKILL after the grace to what ignores it; a deadline moved on spares them', async () => {
    const mark = randomBytes(9).toString('base64url');
    const g = guard(mark);
    const plain = command('sleep 60', mark);
    const stubborn = command(`trap '' TERM; while :; do sleep 0.05; done`, mark);
    // Moved on three times before it passes: nothing is signalled.
    for (let i = 0; i < 3; i++) {
      g.stdin!.write('D 400 300\n');
      await sleep(200);
    }
    expect(alive(plain) && alive(stubborn)).toBe(true);
    const passed = Date.now() + 400;
    g.stdin!.write('D 400 300\n');
    await until('SIGTERM at the deadline', () => !alive(plain));
    expect(Date.now()).toBeGreaterThanOrEqual(passed - 50);
    expect(alive(stubborn)).toBe(true);
    await until('SIGKILL after the grace', () => !alive(stubborn));
    g.stdin!.end('bye\n');
  });

  it('without marks (no /proc), kills the process groups it was told of and not those it was told are gone', async () => {
    const g = guard('');
    const told = command('sleep 60');
    const gone = command('sleep 60');
    g.stdin!.write(`+${told}\n+${gone}\n-${gone}\n`);
    const exited = new Promise((r) => g.once('exit', r));
    g.stdin!.destroy();
    await exited;
    await until('the told group to die', () => !alive(told));
    expect(alive(gone)).toBe(true);
  });
});
