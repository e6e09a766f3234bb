import { Injectable } from '@nestjs/common';
import { Sql, SqlDatabase } from '../database/sql';

/**
 * Every statement about a run's output: `job_output` holds it as chunks of bytes keyed by
 * (job, run, byte offset), and `job_attempts.output_bytes` is the stored length. Appending costs
 * the chunk and reads find their chunks by key, whatever is stored.
 */
@Injectable()
export class JobOutputRepository {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Stores a chunk of a running attempt's output that starts at byte `offset` of it, never past
   * `limit` bytes; returns false when the attempt is over (or is not this run). Chunks are
   * idempotent by offset: bytes already stored are skipped, so a chunk sent twice, or sent again
   * with more after it, is stored once. A chunk starting past the stored end (bytes before it
   * never arrived) is not stored and the output is marked as cut there, so no byte is ever shown
   * at a place it was not written; once cut, an output takes nothing more, so the mark stays true.
   * Appending costs the chunk, whatever is stored already.
   */
  async appendOutput(sql: Sql, id: string, run: number, offset: number, data: Buffer, limit: number, truncated: boolean): Promise<boolean> {
    // The usual chunk starts where the stored output ends and fits: a compare-and-set, the insert.
    if (data.length > 0 && offset + data.length <= limit && !truncated) {
      const changed = await sql.run(
        'UPDATE job_attempts SET output_bytes = ? WHERE job_id = ? AND run = ? AND output_bytes = ? AND output_truncated = 0 AND finished_at IS NULL',
        [offset + data.length, id, run, offset],
      );
      if (changed === 1) {
        await sql.run('INSERT INTO job_output (job_id, run, byte_offset, data) VALUES (?, ?, ?, ?)', [id, run, offset, data]);
        return true;
      }
    }
    for (;;) {
      const [row] = await sql.rows<{ output_bytes: number; output_truncated: number }>(
        'SELECT output_bytes, output_truncated FROM job_attempts WHERE job_id = ? AND run = ? AND finished_at IS NULL',
        [id, run],
      );
      if (!row) return false;
      if (Number(row.output_truncated)) return true;
      const stored = Number(row.output_bytes);
      const gap = offset > stored;
      const fresh = gap ? data.subarray(0, 0) : data.subarray(Math.min(data.length, stored - offset));
      const kept = fresh.subarray(0, Math.max(0, limit - stored));
      const cut = truncated || gap || kept.length < fresh.length;
      if (kept.length === 0 && !cut) return true;
      // Compare-and-set on the stored length: a writer that got in between makes this one look again.
      const changed = await sql.run(
        `UPDATE job_attempts SET output_bytes = ?, output_truncated = ?
         WHERE job_id = ? AND run = ? AND output_bytes = ? AND output_truncated = 0 AND finished_at IS NULL`,
        [stored + kept.length, cut ? 1 : 0, id, run, stored],
      );
      if (changed === 0) continue;
      if (kept.length > 0) await sql.run('INSERT INTO job_output (job_id, run, byte_offset, data) VALUES (?, ?, ?, ?)', [id, run, stored, kept]);
      return true;
    }
  }

  /** How much of a run's output is stored (bytes), whether it was cut, and whether the run has finished. */
  async outputState(id: string, run: number): Promise<{ output_bytes: number; output_truncated: number; finished_at: number | null } | undefined> {
    const [row] = await this.db.rows<{ output_bytes: number; output_truncated: number; finished_at: number | null }>(
      'SELECT output_bytes, output_truncated, finished_at FROM job_attempts WHERE job_id = ? AND run = ?',
      [id, run],
    );
    return row;
  }

  /**
   * The stored bytes of a run's output from byte `from` up to byte `to` (excluded). Reads the
   * chunks that overlap the range, through the key: the cost follows the range, not the output.
   */
  async outputRange(id: string, run: number, from: number, to: number): Promise<Buffer> {
    if (to <= from) return Buffer.alloc(0);
    const rows = await this.db.rows<{ byte_offset: number; data: Buffer }>(
      `SELECT byte_offset, data FROM job_output
       WHERE job_id = ?1 AND run = ?2 AND byte_offset < ?4
         AND byte_offset >= COALESCE((SELECT MAX(byte_offset) FROM job_output WHERE job_id = ?1 AND run = ?2 AND byte_offset <= ?3), 0)
       ORDER BY byte_offset`,
      [id, run, from, to],
    );
    if (rows.length === 0) return Buffer.alloc(0);
    const first = Number(rows[0].byte_offset);
    const all = Buffer.concat(rows.map((r) => r.data));
    return all.subarray(Math.max(0, from - first), Math.max(0, to - first));
  }

  /** Up to `limit` chunks of a run's output that start before byte `before`, last first (for tails). */
  async outputChunksBefore(id: string, run: number, before: number, limit: number): Promise<Array<{ byte_offset: number; data: Buffer }>> {
    const rows = await this.db.rows<{ byte_offset: number; data: Buffer }>(
      'SELECT byte_offset, data FROM job_output WHERE job_id = ? AND run = ? AND byte_offset < ? ORDER BY byte_offset DESC LIMIT ?',
      [id, run, before, limit],
    );
    return rows.map((r) => ({ byte_offset: Number(r.byte_offset), data: r.data }));
  }
}
