import { readFileSync } from 'node:fs';

/**
 * Commits recorded in the write-ahead log: each commit ends with a frame whose header holds the
 * database size (non-zero); other frames hold 0. Counted from the file, so the test sees what
 * reached the disk, not what the code says it did.
 */
export function walCommits(dbFile: string): number {
  let wal: Buffer;
  try {
    wal = readFileSync(`${dbFile}-wal`);
  } catch {
    return 0;
  }
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const [salt1, salt2] = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits += 1;
  }
  return commits;
}
