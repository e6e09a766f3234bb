import { MigrationInterface, QueryRunner } from 'typeorm';

/** The SQLite migration of the same name, in PostgreSQL's terms (named constraints). */
export class PostgresJobFlows1734100000000 implements MigrationInterface {
  name = 'PostgresJobFlows1734100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN cwd text NULL`);
    await q.query(`ALTER TABLE jobs ADD COLUMN env text NULL`);
    await q.query(`
      CREATE TABLE job_dependencies (
        job_id varchar(128) NOT NULL,
        depends_on varchar(128) NOT NULL,
        CONSTRAINT job_dependencies_pkey PRIMARY KEY (job_id, depends_on),
        CONSTRAINT job_dependencies_job_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX job_dependencies_depends_on ON job_dependencies (depends_on, job_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE job_dependencies`);
    await q.query(`ALTER TABLE jobs DROP COLUMN env`);
    await q.query(`ALTER TABLE jobs DROP COLUMN cwd`);
  }
}
