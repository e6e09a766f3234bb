import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from './common/service-record';

export class ServiceAlreadyRunning extends Error {}

/**
 * One service per QUEUECTL_HOME: it is the only process that opens the database. The lock file
 * holds the owner's pid; a lock whose owner is gone (SIGKILL) is taken over. Several services
 * may start at the same moment (parallel CLIs each starting one), so both taking the lock and
 * taking over a stale one are made atomic.
 */
export function acquireServiceLock(home: string): () => void {
  const file = join(home, 'service.lock');
  for (let tries = 0; tries < 100; tries++) {
    if (createHoldingPid(file)) {
      return () => {
        if (readPid(file) === process.pid) rmSync(file, { force: true });
      };
    }
    const owner = readPid(file);
    if (owner === undefined) continue;
    if (owner > 0 && owner !== process.pid && processAlive(owner)) {
      throw new ServiceAlreadyRunning(`a queuectl service (pid ${owner}) already runs for ${home}`);
    }
    if (!removeStaleLock(file, owner)) pause(10);
  }
  throw new ServiceAlreadyRunning(`could not take the service lock in ${home}`);
}

/**
 * Creates `file` holding this process's pid, or returns false when it exists. Written aside,
 * then hard-linked into place, so the file is never seen empty: an empty lock would read as
 * having no owner and be taken over while its owner is still writing it.
 */
function createHoldingPid(file: string): boolean {
  const draft = `${file}.${process.pid}.draft`;
  writeFileSync(draft, String(process.pid), { mode: 0o600 });
  try {
    linkSync(draft, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(draft, { force: true });
  }
}

/**
 * Deletes the lock of a dead owner. Contenders that found the same stale lock race here; only
 * the one that creates `<lock>.<owner>.takeover` may delete it, and only while the lock still
 * names that owner, so a lock another contender has just taken is never deleted. False when
 * another contender is doing it.
 */
function removeStaleLock(file: string, owner: number): boolean {
  const takeover = `${file}.${owner}.takeover`;
  if (!createHoldingPid(takeover)) {
    const taker = readPid(takeover);
    // A taker that died between two statements leaves its mark behind; nobody else will clear it.
    if (taker !== undefined && !(taker > 0 && processAlive(taker))) rmSync(takeover, { force: true });
    return false;
  }
  try {
    if (readPid(file) === owner) rmSync(file, { force: true });
    return true;
  } finally {
    rmSync(takeover, { force: true });
  }
}

/** The pid in a lock file: undefined when there is no file, 0 when it holds no pid. */
function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** A short synchronous wait while another contender finishes a take-over (microseconds of work). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
