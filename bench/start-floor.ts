/**
 * node dist/bench/start-floor.js [samples]: the floor under "enqueue → the command starts": from
 * Node's spawn call to `date` running inside `/bin/sh -c`, spawned as a worker spawns a job (own
 * process group, output through pipes), from a fresh process. Prints {"median","p95"} in ms.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, percentile } from './bench-support';

async function main(): Promise<void> {
  const samples = Number(process.argv[2] ?? 100);
  const dir = mkdtempSync(join(tmpdir(), 'queuectl-floor-'));
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const file = join(dir, `t${i}`);
    const sent = performance.timeOrigin + performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', `date +%s%N > ${file}`], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout!.resume();
      child.stderr!.resume();
      child.once('error', reject);
      child.once('close', () => resolve());
    });
    out.push(Number(readFileSync(file, 'utf8')) / 1e6 - sent);
    await new Promise((r) => setTimeout(r, 20));
  }
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ median: median(out), p95: percentile(out, 95) }));
}

void main();
