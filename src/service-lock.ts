import { join } from 'node:path';
import * as sqlite3 from 'sqlite3';
import { readServiceRecord } from './common/service-record';

export class ServiceAlreadyRunning extends Error {}

/** The lock's file name in QUEUECTL_HOME. */
export const SERVICE_LOCK_FILE = 'service-lock.db';
/** How long a lock must stay taken before its owner is taken to be alive. */
const LOCK_CONTEST_MS = 1000;

/**
 * One service per QUEUECTL_HOME: it is the only process that opens the database. Ownership is
 * SQLite's own exclusive lock on a small lock database, held for the life of the process
 * (`locking_mode = EXCLUSIVE` keeps it after the first write). It is a POSIX lock, which the
 * kernel drops the moment its holder dies however it died: a SIGKILLed service that lingers as
 * a zombie, or a pid reused by another program, never looks like an owner, as a pid in a file
 * did.
 *
 * Contenders starting at the same instant can all fail one try: each takes a shared lock on its
 * way to the exclusive one, and each then meets the others' shared locks. So a failed try is
 * given up at once (closing drops its locks) and made again after a random pause of a few
 * milliseconds, which breaks the tie; only a lock that stays taken for LOCK_CONTEST_MS means a
 * live owner. A contender that meets one is refused after that long.
 *
 * Resolves with the release (closing the database drops the lock; exiting does too).
 */
export async function acquireServiceLock(home: string): Promise<() => void> {
  const file = join(home, SERVICE_LOCK_FILE);
  // A monotonic clock: a step of the wall clock during start-up must not stretch or cut the contest.
  const giveUpAt = performance.now() + LOCK_CONTEST_MS;
  for (;;) {
    const db = await open(file);
    // The driver waits up to a second on a busy lock by default; contenders that all wait on
    // one another would give up together. A try fails at once instead, and the pause decides.
    db.configure('busyTimeout', 0);
    try {
      await exec(
        db,
        `PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = DELETE;
         BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS owner (pid integer NOT NULL);
         DELETE FROM owner; INSERT INTO owner (pid) VALUES (${process.pid}); COMMIT`,
      );
      let released = false;
      return () => {
        if (released) return;
        released = true;
        db.close();
      };
    } catch (e) {
      await new Promise<void>((resolve) => db.close(() => resolve()));
      if (!/SQLITE_BUSY|SQLITE_LOCKED/.test((e as Error).message)) throw e;
      if (performance.now() >= giveUpAt) {
        const pid = readServiceRecord(home)?.pid;
        throw new ServiceAlreadyRunning(`a queuectl service${pid ? ` (pid ${pid})` : ''} already runs for ${home}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 35));
    }
  }
}

function open(file: string): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE, (err) => (err ? reject(err) : resolve(db)));
  });
}

function exec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}
