import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fencing values become unique for the life of the queue. A claim used to add one to the job's
 * own `lease`, so a new job with the id of a deleted one (after `reset` or a purge) started again
 * at 1, and a run left over from the deleted job held the same (id, lease) as the new job's first
 * run. Claims now draw from `run_sequence`, one row that `reset` and purges never touch; it starts
 * above every lease already given.
 *
 * `report_answers` keeps the answer to each worker report by the report's id, so a report sent
 * again (its answer was lost) gets the same answer — the same next claims — instead of claiming
 * again or being refused as stale.
 */
export class RunSequence1733000000000 implements MigrationInterface {
  name = 'RunSequence1733000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE run_sequence (id integer PRIMARY KEY CHECK (id = 1), last bigint NOT NULL)`);
    await q.query(`
      INSERT INTO run_sequence (id, last)
      SELECT 1, MAX(COALESCE((SELECT MAX(lease) FROM jobs), 0), COALESCE((SELECT MAX(run) FROM job_attempts), 0))`);
    await q.query(`
      CREATE TABLE report_answers (
        report_id varchar(64) PRIMARY KEY NOT NULL,
        worker_id varchar(64) NOT NULL,
        answer text NOT NULL,
        created_at bigint NOT NULL
      )`);
    await q.query(`CREATE INDEX report_answers_created ON report_answers (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE report_answers`);
    await q.query(`DROP TABLE run_sequence`);
  }
}
