import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The run counter follows the attempts opened: each claimed run opens its attempt row, and the
 * row's run number carries `run_sequence` forward with it. A claim used to move the counter in a
 * statement of its own, one more trip to SQLite's thread on the enqueue → start path.
 * PostgreSQL draws run numbers from a sequence and needs none of this.
 */
export class RunSequenceTrigger1734300000000 implements MigrationInterface {
  name = 'RunSequenceTrigger1734300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TRIGGER job_attempts_run_sequence AFTER INSERT ON job_attempts
      BEGIN
        UPDATE run_sequence SET last = NEW.run WHERE id = 1 AND last < NEW.run;
      END`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER job_attempts_run_sequence`);
  }
}
