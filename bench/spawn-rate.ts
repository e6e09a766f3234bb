/**
 * node dist/bench/spawn-rate.js <total> <concurrency> [capture] [hold=<MB>]: how fast one fresh
 * Node process runs `/bin/sh -c true` with <concurrency> in flight — the physical limit a worker
 * works against. With `capture`, each shell is spawned as a worker spawns a job: in a process
 * group of its own, with its stdout and stderr read through pipes. With `hold`, the process first
 * fills that many MB of its heap and keeps them (a fork copies the page tables of them all).
 * Prints {"rate": per second, "cpuUs": CPU a spawn, this process and the shells, "rssMb"}.
 */
import { spawn } from 'node:child_process';
import { cpuSeconds } from './cpu-seconds';

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 2000);
  const concurrency = Number(process.argv[3] ?? 4);
  const capture = process.argv.slice(4).includes('capture');
  const holdMb = Number(process.argv.slice(4).find((a) => a.startsWith('hold='))?.slice(5) ?? 0);
  // 64 KiB arrays of small integers, kept until the end.
  const held = Array.from({ length: holdMb * 16 }, (_, i) => new Array<number>(8192).fill(i));
  let started = 0;
  const cpu0 = cpuSeconds('self');
  const t0 = process.hrtime.bigint();
  const lane = async () => {
    while (started < total) {
      started++;
      await new Promise<void>((resolve, reject) => {
        const child = capture
          ? spawn('/bin/sh', ['-c', 'true'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
          : spawn('/bin/sh', ['-c', 'true'], { stdio: 'ignore' });
        child.once('error', reject);
        if (capture) {
          child.stdout!.resume();
          child.stderr!.resume();
        }
        child.once(capture ? 'close' : 'exit', () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const rate = total / (Number(process.hrtime.bigint() - t0) / 1e9);
  const cpu1 = cpuSeconds('self');
  const cpuUs = ((cpu1.own - cpu0.own + cpu1.children - cpu0.children) / total) * 1e6;
  const rssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
  process.stdout.write(JSON.stringify({ rate, cpuUs, rssMb, heldMb: held.length / 16 }));
}

void main();
