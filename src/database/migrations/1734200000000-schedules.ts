import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Recurring jobs (`schedules`) and the answers to idempotent enqueues (`idempotency_keys`). The
 * same tables on PostgreSQL are its migration of the same number.
 */
export class Schedules1734200000000 implements MigrationInterface {
  name = 'Schedules1734200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(SCHEDULES_TABLE);
    await q.query(`CREATE INDEX schedules_next_run ON schedules (next_run_at)`);
    await q.query(IDEMPOTENCY_KEYS_TABLE);
    await q.query(`CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP TABLE schedules`);
  }
}

export const SCHEDULES_TABLE = `
  CREATE TABLE schedules (
    name varchar(100) NOT NULL,
    cron varchar(256) NULL,
    timezone varchar(64) NULL,
    every_seconds integer NULL,
    catch_up varchar(8) NOT NULL,
    job text NOT NULL,
    paused integer NOT NULL DEFAULT 0,
    next_run_at bigint NOT NULL,
    last_run_at bigint NULL,
    last_job_id varchar(128) NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    CONSTRAINT schedules_pkey PRIMARY KEY (name)
  )`;

export const IDEMPOTENCY_KEYS_TABLE = `
  CREATE TABLE idempotency_keys (
    key varchar(255) NOT NULL,
    request_hash varchar(64) NOT NULL,
    status integer NOT NULL,
    answer text NOT NULL,
    created_at bigint NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (key)
  )`;
