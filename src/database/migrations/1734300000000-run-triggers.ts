import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a run's start and its success change beside the job's row, done by the row's change
 * itself: each was a statement of its own, one more trip to SQLite's thread in every claim and
 * every report (a trip costs more than these statements do). PostgreSQL draws run numbers from a
 * sequence and closes attempts in the report's own statement.
 *
 * - job_attempts_run_sequence: each claimed run opens its attempt row, and the row's run number
 *   carries `run_sequence` forward with it.
 * - jobs_completed_attempt: a job that becomes completed closes the attempt of the run that held
 *   it (its `lease`).
 */
export class RunTriggers1734300000000 implements MigrationInterface {
  name = 'RunTriggers1734300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TRIGGER job_attempts_run_sequence AFTER INSERT ON job_attempts
      BEGIN
        UPDATE run_sequence SET last = NEW.run WHERE id = 1 AND last < NEW.run;
      END`);
    await q.query(`
      CREATE TRIGGER jobs_completed_attempt AFTER UPDATE OF state ON jobs
      WHEN NEW.state = 'completed' AND OLD.state <> 'completed'
      BEGIN
        UPDATE job_attempts SET finished_at = NEW.finished_at, exit_code = 0, error = NULL
        WHERE job_id = NEW.id AND run = NEW.lease AND finished_at IS NULL;
      END`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER jobs_completed_attempt`);
    await q.query(`DROP TRIGGER job_attempts_run_sequence`);
  }
}
