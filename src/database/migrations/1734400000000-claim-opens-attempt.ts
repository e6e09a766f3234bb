import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A claimed run opens its attempt row by the claim's own change of the job's row: the attempt's
 * INSERT was a statement of its own after every claim, one more trip to SQLite's thread on the
 * paths from enqueue to start (an enqueue handed to a waiting worker) and from one job's report
 * to the next job's start. The attempt row is made of the claimed job's row: its id, run (the
 * lease), attempt number, worker and start time. Inserting it fires job_attempts_run_sequence,
 * which moves the run counter past the run. PostgreSQL inserts the attempts in the claim's own
 * statement (a data-modifying CTE).
 */
export class ClaimOpensAttempt1734400000000 implements MigrationInterface {
  name = 'ClaimOpensAttempt1734400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TRIGGER jobs_claimed_attempt AFTER UPDATE OF state ON jobs
      WHEN NEW.state = 'processing' AND OLD.state <> 'processing'
      BEGIN
        INSERT INTO job_attempts (job_id, run, attempt, worker_id, started_at)
        VALUES (NEW.id, NEW.lease, NEW.attempts, NEW.worker_id, NEW.started_at);
      END`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER jobs_claimed_attempt`);
  }
}
