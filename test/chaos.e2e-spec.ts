import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, cleanEnv } from './support/harness';

/**
 * The short chaos run (see RELIABILITY.md): a few hundred jobs under ~25 s of faults — workers
 * SIGKILLed, SIGSTOPped and suspended with Ctrl+Z, the service SIGKILLed and restarted, the proxy
 * of one worker frozen — then the checks, from the commands' own log and the service's runs.
 */

const CHAOS = join(ROOT, 'dist', 'chaos', 'main.js');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

let running: ChildProcess | undefined;

function runChaos(args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHAOS, ...args], { env: cleanEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
    running = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('chaos run (short)', () => {
  // A run cut short by the test's timeout still ends every process it started (SIGTERM → its exit handler).
  afterEach(() => {
    if (running && running.exitCode === null && running.signalCode === null) running.kill('SIGTERM');
  });

  it('loses, strands, overlaps and wrongly completes no job under kills, pauses, Ctrl+Z and a frozen proxy', async () => {
    const run = await runChaos(['--jobs', '300', '--workers', '3', '--slots', '8', '--long', '15', '--duration', '25', '--lease', '4', '--seed', '1', '--json']);
    let result: Record<string, unknown>;
    try {
      result = JSON.parse(run.stdout);
    } catch {
      throw new Error(`no result (exit ${run.code}):\n${run.stderr}`);
    }
    // On failure the examples say which job broke which rule (and the home is kept for inspection).
    expect({ code: run.code, ...pick(result) }).toEqual({
      code: 0,
      lost: 0,
      stuck: 0,
      overlapping: 0,
      wronglyCompleted: 0,
      disagreeing: 0,
      unreadableLines: 0,
      violations: 0,
      examples: [],
    });
    // The run did what it says: every job ran or went dead, and faults of every kind were injected.
    const faults = result.faults as Record<string, number>;
    for (const kind of ['worker-kill', 'service-kill', 'worker-sigstop', 'worker-ctrl-z', 'proxy-freeze']) expect(faults[kind]).toBeGreaterThan(0);
    const states = result.states as Record<string, number>;
    expect((states.completed ?? 0) + (states.dead ?? 0)).toBe(300);
    expect(result.loggedRuns as number).toBeGreaterThanOrEqual(300 - (states.dead ?? 0));
  }, 240_000);
});

function pick(r: Record<string, unknown>): Record<string, unknown> {
  const { lost, stuck, overlapping, wronglyCompleted, disagreeing, unreadableLines, violations, examples } = r;
  return { lost, stuck, overlapping, wronglyCompleted, disagreeing, unreadableLines, violations, examples };
}
