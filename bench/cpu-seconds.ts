import { readFileSync, readdirSync } from 'node:fs';

/**
 * CPU seconds of a process from /proc/<pid>/stat: its own (utime + stime) and that of the
 * children it has waited for (cutime + cstime). Linux counts in clock ticks of 1/100 s.
 */
export function cpuSeconds(pid: number | 'self'): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { own: (Number(f[11]) + Number(f[12])) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
}

/**
 * CPU milliseconds of a running process's threads from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds, so a single request can be measured): the main thread (the event loop) and all
 * of them (with SQLite's, the garbage collector's and the compilers' threads).
 */
export function threadCpuMs(pid: number): { main: number; all: number } {
  let main = 0;
  let all = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      all += ns / 1e6;
      if (tid === String(pid)) main = ns / 1e6;
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return { main, all };
}
