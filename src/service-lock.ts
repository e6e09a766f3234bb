import { join } from 'node:path';
import * as sqlite3 from 'sqlite3';
import { readServiceRecord } from './common/service-record';

export class ServiceAlreadyRunning extends Error {}

/** The lock's file name in QUEUECTL_HOME. */
export const SERVICE_LOCK_FILE = 'service-lock.db';

/**
 * One service per QUEUECTL_HOME: it is the only process that opens the database. Ownership is
 * SQLite's own exclusive lock on a small lock database, held for the life of the process
 * (`locking_mode = EXCLUSIVE` keeps it after the first write). It is a POSIX lock, which the
 * kernel drops the moment its holder dies however it died: a SIGKILLed service that lingers as
 * a zombie, or a pid reused by another program, never looks like an owner, as a pid in a file
 * did. Contenders starting at the same instant are decided by the kernel: one wins, the others
 * get SQLITE_BUSY at once (no busy timeout).
 *
 * Resolves with the release (closing the database drops the lock; exiting does too).
 */
export async function acquireServiceLock(home: string): Promise<() => void> {
  const db = await open(join(home, SERVICE_LOCK_FILE));
  try {
    await exec(
      db,
      `PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = DELETE;
       BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS owner (pid integer NOT NULL);
       DELETE FROM owner; INSERT INTO owner (pid) VALUES (${process.pid}); COMMIT`,
    );
  } catch (e) {
    await new Promise<void>((resolve) => db.close(() => resolve()));
    if (!/SQLITE_BUSY|SQLITE_LOCKED/.test((e as Error).message)) throw e;
    const pid = readServiceRecord(home)?.pid;
    throw new ServiceAlreadyRunning(`a queuectl service${pid ? ` (pid ${pid})` : ''} already runs for ${home}`);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    db.close();
  };
}

function open(file: string): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE, (err) => (err ? reject(err) : resolve(db)));
  });
}

function exec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}
