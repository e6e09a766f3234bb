import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, removeHome, tempHome, waitFor } from './support/harness';

/**
 * The one-service-per-home lock under contention: several processes (as parallel CLIs starting
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

describe('service lock under contention', () => {
  const homes: string[] = [];
  afterAll(() => homes.forEach(removeHome));

  beforeAll(() => {
    if (!existsSync(LOCK_MODULE)) throw new Error(`${LOCK_MODULE} is missing: build first with npx tsc -p tsconfig.build.json`);
  });

  it.each([
    ['a fresh home', false],
    ['a lock left by a dead service', true],
  ])('lets exactly one of four simultaneous contenders take %s', async (_name, stale) => {
    for (let i = 0; i < 8; i++) {
      const home = tempHome('queuectl-lock-');
      homes.push(home);
      if (stale) await holdThenKill(home);
      const results = await round(home, 4);
      const winners = results.filter((r) => r.outcome === 'got');
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.outcome.startsWith('refused: ') && r.outcome.includes('already runs'))).toHaveLength(3);
      expect(existsSync(join(home, 'service-lock.db'))).toBe(true);
    }
  });
});
