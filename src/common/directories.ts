import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` that always ends. Node's `mkdirSync(…, { recursive: true })` loops forever, holding
 * the event loop, when the kernel answers ENOENT for a directory whose parent exists (under /proc,
 * for one): a service given such a path would spin and ignore even SIGTERM. Here each missing
 * level is made on its own, from the deepest one that exists, so such an error is thrown as is.
 */
export function ensureDirectory(path: string, mode = 0o700): void {
  const missing: string[] = [];
  for (let dir = path; !existsSync(dir); dir = dirname(dir)) {
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, { mode });
    } catch (e) {
      // Made meanwhile by another process: that is what was asked.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
