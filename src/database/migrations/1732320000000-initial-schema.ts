import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Times are integer milliseconds since the epoch: compact, cheap to compare in the claim index,
 * and identical across SQLite and PostgreSQL (bigint).
 */
export class InitialSchema1732320000000 implements MigrationInterface {
  name = 'InitialSchema1732320000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE jobs (
        id varchar(128) PRIMARY KEY NOT NULL,
        seq bigint NOT NULL,
        command text NOT NULL,
        state varchar(16) NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        max_retries integer NOT NULL,
        priority integer NOT NULL DEFAULT 0,
        run_at bigint NULL,
        due_at bigint NOT NULL,
        timeout_seconds integer NULL,
        backoff_base real NULL,
        last_error text NULL,
        exit_code integer NULL,
        worker_id varchar(64) NULL,
        lease integer NOT NULL DEFAULT 0,
        lease_expires_at bigint NULL,
        cancel_requested integer NOT NULL DEFAULT 0,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        started_at bigint NULL,
        finished_at bigint NULL
      )`);
    // seq is creation order; the id is user-chosen, so it cannot order jobs.
    await q.query(`CREATE UNIQUE INDEX jobs_seq ON jobs (seq)`);
    // The claim query walks this partial index in order and stops at the first due row.
    await q.query(`CREATE INDEX jobs_claimable ON jobs (priority DESC, due_at, seq) WHERE state IN ('pending', 'failed')`);
    await q.query(`CREATE INDEX jobs_state_seq ON jobs (state, seq)`);
    await q.query(`CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE state = 'processing'`);
    await q.query(`CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE state IN ('completed', 'dead')`);

    await q.query(`
      CREATE TABLE job_attempts (
        job_id varchar(128) NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        run integer NOT NULL,
        attempt integer NOT NULL,
        worker_id varchar(64) NULL,
        started_at bigint NOT NULL,
        finished_at bigint NULL,
        exit_code integer NULL,
        error text NULL,
        output text NOT NULL DEFAULT '',
        output_bytes integer NOT NULL DEFAULT 0,
        output_truncated integer NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, run)
      )`);
    await q.query(`CREATE INDEX job_attempts_finished ON job_attempts (finished_at)`);

    // Counts per state, kept by triggers, so status stays O(1) at millions of rows.
    await q.query(`CREATE TABLE job_counts (state varchar(16) PRIMARY KEY NOT NULL, n bigint NOT NULL)`);
    await q.query(
      `INSERT INTO job_counts (state, n) VALUES ('pending', 0), ('processing', 0), ('completed', 0), ('failed', 0), ('dead', 0)`,
    );
    await q.query(`
      CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
        UPDATE job_counts SET n = n + 1 WHERE state = NEW.state;
      END`);
    await q.query(`
      CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;
      END`);
    await q.query(`
      CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs WHEN OLD.state <> NEW.state BEGIN
        UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;
        UPDATE job_counts SET n = n + 1 WHERE state = NEW.state;
      END`);

    await q.query(`
      CREATE TABLE workers (
        id varchar(64) PRIMARY KEY NOT NULL,
        hostname varchar(255) NOT NULL,
        pid integer NOT NULL,
        concurrency integer NOT NULL DEFAULT 1,
        started_at bigint NOT NULL,
        heartbeat_at bigint NOT NULL,
        stop_requested integer NOT NULL DEFAULT 0,
        stopped_at bigint NULL
      )`);
    await q.query(`CREATE INDEX workers_heartbeat ON workers (heartbeat_at)`);

    await q.query(`CREATE TABLE settings (key varchar(64) PRIMARY KEY NOT NULL, value text NOT NULL, updated_at bigint NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['settings', 'workers', 'job_counts', 'job_attempts', 'jobs']) await q.query(`DROP TABLE ${t}`);
  }
}
