import { QueryRunner } from 'typeorm';

/**
 * Named queues, the same in both dialects (written once, as the statements are portable):
 *
 * - `jobs.queue`, `default` for every job that was there before.
 * - `jobs_queue_claimable`: a limited queue's next jobs in claim order, found without walking
 *   the other queues' jobs; `jobs_queue_state_seq`: counts per queue and state (covering), the
 *   processing jobs a limit counts, and `list --queue` pages.
 * - `queues`: one row per queue that has settings (a pause, a limit, overrides). A queue with
 *   none needs no row: it exists while it has jobs. Overrides are NULL when not set.
 * - `workers.queues`: the queues a worker serves, comma-separated; NULL for all.
 */
export async function namedQueuesUp(q: QueryRunner, fraction: 'real' | 'double precision'): Promise<void> {
  await q.query(`ALTER TABLE jobs ADD COLUMN queue varchar(128) NOT NULL DEFAULT 'default'`);
  await q.query(`CREATE INDEX jobs_queue_claimable ON jobs (queue, priority DESC, due_at, seq) WHERE state IN ('pending', 'failed')`);
  await q.query(`CREATE INDEX jobs_queue_state_seq ON jobs (queue, state, seq)`);
  await q.query(`
    CREATE TABLE queues (
      name varchar(128) PRIMARY KEY NOT NULL,
      paused integer NOT NULL DEFAULT 0,
      concurrency integer NOT NULL DEFAULT 0,
      max_retries integer NULL,
      backoff_base ${fraction} NULL,
      backoff_max integer NULL,
      job_timeout integer NULL,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL
    )`);
  await q.query(`ALTER TABLE workers ADD COLUMN queues text NULL`);
}

export async function namedQueuesDown(q: QueryRunner): Promise<void> {
  await q.query(`ALTER TABLE workers DROP COLUMN queues`);
  await q.query(`DROP TABLE queues`);
  await q.query(`DROP INDEX jobs_queue_state_seq`);
  await q.query(`DROP INDEX jobs_queue_claimable`);
  await q.query(`ALTER TABLE jobs DROP COLUMN queue`);
}
