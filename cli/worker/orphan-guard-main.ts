/**
 * The orphan guard: a tiny process each worker starts in a session of its own. It reads from its
 * stdin which process groups (one per running command) the worker has, and when that pipe closes
 * without a goodbye — the worker died, even by SIGKILL of its whole process group — it kills
 * every group still listed, so no command runs on unsupervised.
 *
 * Lines: `+<pgid>` a command started, `-<pgid>` its group is gone, `bye` the worker exits normally.
 */
import { createInterface } from 'node:readline';

const groups = new Set<number>();
let goodbye = false;

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const pgid = Number(line.slice(1));
  if (line[0] === '+' && pgid > 1) groups.add(pgid);
  else if (line[0] === '-') groups.delete(pgid);
  else if (line === 'bye') goodbye = true;
});
lines.on('close', () => {
  if (!goodbye) {
    for (const pgid of groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* the group is already gone */
      }
    }
  }
  process.exit(0);
});
// The worker's terminal may go away with it; the guard must not die of SIGHUP/SIGINT before it acts.
for (const signal of ['SIGHUP', 'SIGINT', 'SIGPIPE'] as const) process.on(signal, () => undefined);
