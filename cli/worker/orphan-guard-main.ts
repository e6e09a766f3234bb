/**
 * The orphan guard: a tiny process each worker starts in a session of its own. When its stdin
 * closes without a goodbye — the worker died, even by SIGKILL of its whole process group — it
 * kills every process the worker's commands left behind, so no command runs on unsupervised.
 *
 * Which processes: on Linux, every process whose environment carries the worker's run mark
 * (QUEUECTL_RUN_MARK, given to each command and inherited by all it starts), with its whole
 * process group; this needs no message per job. Elsewhere the worker lists its commands' process
 * groups on the pipe: `+<pgid>` started, `-<pgid>` gone. `bye`: the worker exits normally.
 *
 * It is also the worker's watchdog: `D <deadline> <grace>` (milliseconds of the system's
 * monotonic clock, shared by every process) says the worker's commands may run until
 * `deadline`, the earliest time one of their leases could be near its end. The worker moves it on
 * after each heartbeat the service answered; should it not (its connection is cut, the worker is
 * frozen or stopped), at the deadline the guard ends every command of the worker, SIGTERM and
 * SIGKILL `grace` later. Being a process of its own, it acts whatever the worker's state.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { monotonicMs } from './monotonic-clock';

const mark = process.argv[2] ?? '';
const groups = new Set<number>();
let goodbye = false;
let watchdog: NodeJS.Timeout | undefined;

function kill(target: number): void {
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    /* gone already */
  }
}

/** Pids of processes whose environment holds the mark, with their process groups. */
function marked(): Array<{ pid: number; pgid: number }> {
  const needle = Buffer.from(`QUEUECTL_RUN_MARK=${mark}\0`);
  const found: Array<{ pid: number; pgid: number }> = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`);
      const at = env.indexOf(needle);
      if (at < 0 || (at > 0 && env[at - 1] !== 0)) continue;
      // Field 5 of stat is the process group; the command name before it may hold spaces.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      found.push({ pid, pgid });
    } catch {
      /* exited meanwhile, or not ours to read */
    }
  }
  return found;
}

function signalAll(signal: NodeJS.Signals): void {
  for (const pgid of groups) signalGroup(pgid, signal);
  for (const { pgid } of mark ? marked() : []) if (pgid > 1) signalGroup(pgid, signal);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* gone already */
  }
}

/** (Re)arms the watchdog for `deadline`: the worker's commands end then unless it is moved on. */
function arm(deadline: number, graceMs: number): void {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => {
    watchdog = undefined;
    signalAll('SIGTERM');
    // A command stopped with its worker (Ctrl+Z) cannot take SIGTERM until continued; SIGKILL ends it anyway.
    watchdog = setTimeout(() => {
      watchdog = undefined;
      killAll();
    }, graceMs);
  }, Math.max(0, deadline - monotonicMs()));
}

function killAll(): void {
  for (const pgid of groups) kill(-pgid);
  if (!mark) return;
  // Again while anything is found: a process may have forked while the previous pass ran.
  for (let pass = 0; pass < 5; pass++) {
    const found = marked();
    if (found.length === 0) return;
    for (const { pid, pgid } of found) {
      if (pgid > 1) kill(-pgid);
      kill(pid);
    }
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const pgid = Number(line.slice(1));
  if (line[0] === '+' && pgid > 1) groups.add(pgid);
  else if (line[0] === '-') groups.delete(pgid);
  else if (line === 'bye') goodbye = true;
  else if (line.startsWith('D ')) {
    const [deadline, grace] = line.slice(2).split(' ').map(Number);
    if (Number.isFinite(deadline) && Number.isFinite(grace)) arm(deadline, grace);
  }
});
lines.on('close', () => {
  clearTimeout(watchdog);
  if (!goodbye) killAll();
  process.exit(0);
});
// The worker's terminal may go away with it; the guard must not die of SIGHUP/SIGINT before it acts.
for (const signal of ['SIGHUP', 'SIGINT', 'SIGPIPE'] as const) process.on(signal, () => undefined);
