import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where and how a command runs, and what it waits for: `jobs.cwd` (an absolute directory on the
 * worker's machine, NULL for the worker's own), `jobs.env` (a JSON object of variables added to
 * the worker's environment, NULL for none), and `job_dependencies` (`run --after`). A job that
 * waits is pending with due_at at the far end of time, so the claim never reaches it.
 */
export class JobFlows1734100000000 implements MigrationInterface {
  name = 'JobFlows1734100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN cwd text NULL`);
    await q.query(`ALTER TABLE jobs ADD COLUMN env text NULL`);
    await q.query(`
      CREATE TABLE job_dependencies (
        job_id varchar(128) NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        depends_on varchar(128) NOT NULL,
        PRIMARY KEY (job_id, depends_on)
      )`);
    await q.query(`CREATE INDEX job_dependencies_depends_on ON job_dependencies (depends_on, job_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE job_dependencies`);
    await q.query(`ALTER TABLE jobs DROP COLUMN env`);
    await q.query(`ALTER TABLE jobs DROP COLUMN cwd`);
  }
}
