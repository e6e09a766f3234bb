import { readFileSync } from 'node:fs';

/**
 * CPU seconds of a process from /proc/<pid>/stat: its own (utime + stime) and that of the
 * children it has waited for (cutime + cstime). Linux counts in clock ticks of 1/100 s.
 */
export function cpuSeconds(pid: number | 'self'): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { own: (Number(f[11]) + Number(f[12])) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
}
