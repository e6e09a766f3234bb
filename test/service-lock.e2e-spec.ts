import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SERVICE_MAIN, alive, api, cleanEnv, servicesOfSpec, waitFor } from './support/harness';

/**
 * One service per QUEUECTL_HOME (SQLite's file has one writer): a second service is refused while
 * the first runs, and takes over the lock a SIGKILLed one left. Then the lock under contention: several processes (as parallel CLIs starting
 * the service would) try to take it at the same instant, on a fresh home and over a lock left by
 * a SIGKILLed holder. Exactly one may win each time. Uses the built dist/src/service-lock.js.
 */

const LOCK_MODULE = join(ROOT, 'dist', 'src', 'service-lock.js');

// Reports "ready", waits for "go <time>", spins until that instant, tries the lock, reports
// "got" or "refused", and holds what it got until its stdin closes.
const CONTENDER = `
const { acquireServiceLock } = require(${JSON.stringify(LOCK_MODULE)});
const home = process.argv[1];
let buffered = '';
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  const m = /go (\\d+)\\n/.exec(buffered);
  if (!m || buffered.includes('done')) return;
  buffered += 'done';
  while (Date.now() < Number(m[1])) {}
  acquireServiceLock(home).then(
    () => process.stdout.write('got\\n'),
    (e) => process.stdout.write((e.constructor.name === 'ServiceAlreadyRunning' ? 'refused: ' : 'error: ') + e.message + '\\n'),
  );
});
process.stdin.on('end', () => process.exit(0));
process.stdout.write('ready\\n');
`;

interface Contender {
  child: ChildProcess;
  output: () => string;
}

function contender(home: string): Contender {
  const child = spawn(process.execPath, ['-e', CONTENDER, home], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  return { child, output: () => out };
}

async function round(home: string, count: number): Promise<Array<{ pid: number; outcome: string }>> {
  const all = Array.from({ length: count }, () => contender(home));
  try {
    await waitFor(() => all.every((c) => c.output().includes('ready')), 20_000, 'contenders to start');
    const go = Date.now() + 50;
    for (const c of all) c.child.stdin!.write(`go ${go}\n`);
    await waitFor(() => all.every((c) => /\n(got|refused|error)/.test(c.output())), 20_000, 'every contender to try');
    return all.map((c) => ({ pid: c.child.pid!, outcome: c.output().split('\n')[1] }));
  } finally {
    for (const c of all) {
      c.child.stdin!.end();
      const gone = new Promise((r) => c.child.once('exit', r));
      if (c.child.exitCode === null && c.child.signalCode === null) await gone;
    }
  }
}

/** A holder of the lock killed with SIGKILL: it leaves the lock file behind, and nothing else. */
async function holdThenKill(home: string): Promise<void> {
  const holder = contender(home);
  await waitFor(() => holder.output().includes('ready'), 20_000, 'the holder to start');
  holder.child.stdin!.write(`go ${Date.now()}\n`);
  await waitFor(() => holder.output().includes('got'), 20_000, 'the holder to take the lock');
  const gone = new Promise((r) => holder.child.once('exit', r));
  holder.child.kill('SIGKILL');
  await gone;
}

const { newHome, start, cleanUp } = servicesOfSpec('queuectl-lock-');
const strays: ChildProcess[] = [];

/** Runs the built service for `home` without waiting for it to come up; resolves with its exit. */
function spawnService(home: string): { child: ChildProcess; exit: Promise<{ code: number | null; output: string }> } {
  const child = spawn(process.execPath, [SERVICE_MAIN], { env: cleanEnv({ QUEUECTL_HOME: home, QUEUECTL_PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
  strays.push(child);
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const exit = new Promise<{ code: number | null; output: string }>((resolve) => child.once('exit', (code) => resolve({ code, output })));
  return { child, exit };
}

afterAll(async () => {
  for (const child of strays) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await cleanUp();
});

describe('service lock under contention', () => {
  beforeAll(() => {
    if (!existsSync(LOCK_MODULE)) throw new Error(`${LOCK_MODULE} is missing: build first with npx tsc -p tsconfig.build.json`);
  });

  it.each([
    ['a fresh home', false],
    ['a lock left by a dead service', true],
  ])('lets exactly one of four simultaneous contenders take %s', async (_name, stale) => {
    for (let i = 0; i < 8; i++) {
      const home = newHome();
      if (stale) await holdThenKill(home);
      const results = await round(home, 4);
      const winners = results.filter((r) => r.outcome === 'got');
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.outcome.startsWith('refused: ') && r.outcome.includes('already runs'))).toHaveLength(3);
      expect(existsSync(join(home, 'service-lock.db'))).toBe(true);
    }
  });
});

describe('one service per QUEUECTL_HOME', () => {
  it('refuses a second service while the first runs, and leaves the first alone', async () => {
    const home = newHome();
    const first = await start(home);
    const second = spawnService(home);
    const { code, output } = await second.exit;
    expect(code).toBe(1);
    expect(output).toMatch(new RegExp(`already runs.*\\(pid ${first.pid}\\)|pid ${first.pid}.*already runs`));
    expect(output.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')).pid).toBe(first.pid);
    expect((await api(first, 'GET', '/api/health')).status).toBe(200);
  });

  it('takes over the lock left by a SIGKILLed service', async () => {
    const home = newHome();
    const first = await start(home);
    await api(first, 'POST', '/api/jobs', { id: 'survivor', command: 'true' });
    await first.kill('SIGKILL');
    // The dead service's lock file is still there; the kernel dropped its lock with the process.
    expect(existsSync(join(home, 'service-lock.db'))).toBe(true);
    expect(alive(first.pid)).toBe(false);

    const second = await start(home);
    expect(second.pid).not.toBe(first.pid);
    expect((await api(second, 'GET', '/api/jobs/survivor')).status).toBe(200);
  });

  it('lets exactly one of several services started together run, even over a stale lock', async () => {
    for (const stale of [false, true]) {
      const home = newHome();
      if (stale) {
        const crashed = await start(home);
        await crashed.kill('SIGKILL');
      }
      const contenders = Array.from({ length: 4 }, () => spawnService(home));
      // Wait until each contender has either exited or answered as the recorded service.
      const winner = (await waitFor(
        () => {
          const exited = contenders.filter((c) => c.child.exitCode !== null);
          let record: { pid: number } | undefined;
          try {
            record = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
          } catch {
            return undefined;
          }
          const live = contenders.find((c) => c.child.pid === record!.pid && c.child.exitCode === null);
          return live && exited.length === contenders.length - 1 ? live : undefined;
        },
        30_000,
        'one service to win and the others to give up',
      ))!;
      const losers = contenders.filter((c) => c !== winner);
      for (const loser of losers) {
        const { code, output } = await loser.exit;
        expect({ code, refused: /already runs/.test(output) }).toEqual({ code: 1, refused: true });
      }
      expect(JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')).pid).toBe(winner.child.pid);
      winner.child.kill('SIGKILL');
      await winner.exit;
    }
  });
});
