import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from './common/service-record';

export class ServiceAlreadyRunning extends Error {}

/**
 * One service per QUEUECTL_HOME: it is the only process that opens the database. The lock file
 * holds the owner's pid; a lock whose owner is gone (SIGKILL) is taken over.
 */
export function acquireServiceLock(home: string): () => void {
  const file = join(home, 'service.lock');
  for (let tries = 0; tries < 3; tries++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          if (readFileSync(file, 'utf8') === String(process.pid)) rmSync(file, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(file, 'utf8') || 0);
      if (owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new ServiceAlreadyRunning(`a queuectl service (pid ${owner}) already runs for ${home}`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new ServiceAlreadyRunning(`could not take the service lock in ${home}`);
}
