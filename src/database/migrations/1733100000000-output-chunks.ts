import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A run's output becomes rows of bytes: one row per chunk a worker sent, keyed by the byte offset
 * of its first byte. Appending inserts the chunk alone (the old `output || ?` rewrote the whole
 * text on every chunk), a BLOB keeps NUL and bytes that are not UTF-8 (SQLite's text functions
 * stop at NUL), and a read from any offset or of the tail finds its rows through the key. On
 * PostgreSQL the table is the same with `data bytea`.
 *
 * `job_attempts.output_bytes` stays the run's stored length (now in bytes, not characters): the
 * next chunk's offset is checked against it, and `show` and the dashboard report it.
 */
export class OutputChunks1733100000000 implements MigrationInterface {
  name = 'OutputChunks1733100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE job_output (
        job_id varchar(128) NOT NULL,
        run integer NOT NULL,
        byte_offset bigint NOT NULL,
        data blob NOT NULL,
        PRIMARY KEY (job_id, run, byte_offset),
        FOREIGN KEY (job_id, run) REFERENCES job_attempts (job_id, run) ON DELETE CASCADE
      )`);
    // The text kept so far becomes each run's first chunk, as the bytes SQLite held (all of them:
    // CAST reads past a NUL where substr and || did not).
    await q.query(`
      INSERT INTO job_output (job_id, run, byte_offset, data)
      SELECT job_id, run, 0, CAST(output AS BLOB) FROM job_attempts WHERE length(CAST(output AS BLOB)) > 0`);
    await q.query(`UPDATE job_attempts SET output_bytes = length(CAST(output AS BLOB))`);
    await q.query(`ALTER TABLE job_attempts DROP COLUMN output`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_attempts ADD COLUMN output text NOT NULL DEFAULT ''`);
    // Chunks are contiguous from 0, so in offset order they concatenate to the whole output.
    await q.query(`
      UPDATE job_attempts SET output = COALESCE((
        SELECT CAST(group_concat(data, '') AS TEXT) FROM (
          SELECT data FROM job_output o WHERE o.job_id = job_attempts.job_id AND o.run = job_attempts.run ORDER BY byte_offset)), '')`);
    await q.query(`DROP TABLE job_output`);
  }
}
