/**
 * node dist/bench/spawn-parents.js [--spawns 2000] [--reps 5] [--hold 120]: how fast
 * `/bin/sh -c true` runs four at a time depending on the process that starts it.
 *
 * - **Node**: a fresh Node process spawning as a worker does (own process group, stdout and
 *   stderr through pipes): the capturing floor of the shell benchmarks (spawn-rate.js).
 * - **Node holding --hold MB more**: the same, after filling that much of its heap; a fork copies
 *   the parent's page tables, so a bigger parent spawns slower.
 * - **perl**: a perl process (a few MB) doing what the Node parent asks of libuv: fork, a new
 *   session, both outputs into pipes it reads to their end, exec, wait. Skipped if there is no perl.
 * - **xargs -P4**: a small C parent at its simplest (no new session, no pipes), for scale.
 *
 * The parents take turns within each rep. Prints each one's median rate and CPU a spawn (the
 * parent and its shells, from /proc), and its rate ÷ the Node parent's in the same rep.
 */
import { spawnSync } from 'node:child_process';
import { cpuSeconds } from './cpu-seconds';
import { SpawnResult, benchOption, median, rawSpawnRate } from './bench-support';

const PERL_PARENT = `
use POSIX qw(setsid);
my ($total, $width) = @ARGV;
my ($started, %out) = (0);
while ($started < $total || %out) {
  while (keys(%out) < $width && $started < $total) {
    pipe(my $r1, my $w1) or die "pipe: $!";
    pipe(my $r2, my $w2) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
      setsid();
      open(STDIN, '<', '/dev/null');
      open(STDOUT, '>&', $w1);
      open(STDERR, '>&', $w2);
      exec('/bin/sh', '-c', 'true');
      POSIX::_exit(127);
    }
    close $w1; close $w2;
    $out{$pid} = [$r1, $r2];
    $started++;
  }
  my $pid = waitpid(-1, 0);
  my ($r1, $r2) = @{delete $out{$pid}};
  1 while <$r1>;
  1 while <$r2>;
}
`;

/** Runs `file args`, timing it and counting its CPU and its children's. */
function timed(file: string, args: string[], total: number, input?: string): SpawnResult {
  const before = cpuSeconds('self').children;
  const t0 = performance.now();
  const done = spawnSync(file, args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'inherit'] });
  const seconds = (performance.now() - t0) / 1000;
  if (done.status !== 0) throw new Error(`${file} exited with ${done.status ?? done.signal}`);
  return { rate: total / seconds, cpuUs: ((cpuSeconds('self').children - before) / total) * 1e6 };
}

function hasPerl(): boolean {
  return spawnSync('perl', ['-e', '1']).status === 0;
}

function main(): void {
  const total = Number(benchOption('spawns', '2000'));
  const reps = Number(benchOption('reps', '5'));
  const holdMb = Number(benchOption('hold', '120'));
  const parents: Array<[string, () => SpawnResult]> = [
    ['Node (the capturing floor)', () => rawSpawnRate(total, 4, true)],
    [`Node holding ${holdMb} MB more`, () => rawSpawnRate(total, 4, true, holdMb)],
    ...(hasPerl() ? [['perl: fork, setsid, two pipes, exec', () => timed('perl', ['-e', PERL_PARENT, String(total), '4'], total)] as [string, () => SpawnResult]] : []),
    ['xargs -P4 (no session, no pipes)', () => timed('xargs', ['-P4', '-I{}', '/bin/sh', '-c', 'true'], total, Array.from({ length: total }, (_, i) => i).join('\n'))],
  ];
  const samples = new Map<string, SpawnResult[]>(parents.map(([name]) => [name, []]));
  const ratios = new Map<string, number[]>(parents.map(([name]) => [name, []]));
  for (let rep = 0; rep < reps; rep++) {
    const rates = new Map<string, number>();
    for (const [name, run] of rep % 2 === 0 ? parents : [...parents].reverse()) {
      const s = run();
      samples.get(name)!.push(s);
      rates.set(name, s.rate);
    }
    for (const [name] of parents) ratios.get(name)!.push(rates.get(name)! / rates.get(parents[0][0])!);
    process.stderr.write(`rep ${rep + 1}: ${parents.map(([name]) => `${name} ${rates.get(name)!.toFixed(0)}/s`).join(', ')}\n`);
  }
  console.log(`/bin/sh -c true, ${total} spawns, 4 at a time, medians of ${reps}:`);
  for (const [name] of parents) {
    const s = samples.get(name)!;
    const rate = median(s.map((x) => x.rate)).toFixed(0);
    const cpu = median(s.map((x) => x.cpuUs)).toFixed(0);
    console.log(`  ${name.padEnd(40)} ${rate.padStart(6)} spawns/s  ${cpu.padStart(6)} µs CPU a spawn  ${median(ratios.get(name)!).toFixed(2)} × Node`);
  }
}

main();
