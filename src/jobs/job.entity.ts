import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';
import { JobRow } from './job-row';

const CLAIMABLE = `state IN ('pending', 'failed')`;

/** `jobs`: one row a job. `seq` is creation order (an identity on PostgreSQL, given by the service on SQLite). */
export function jobEntity(dialect: Dialect): EntitySchema<JobRow> {
  const t = columns(dialect);
  return new EntitySchema<JobRow>({
    name: 'jobs',
    tableName: 'jobs',
    columns: {
      id: t.varchar(128, { primary: true }),
      seq: dialect === 'postgres' ? t.bigint({ generated: 'identity' as 'increment' }) : t.bigint(),
      command: t.text(),
      state: t.varchar(16),
      attempts: t.integer({ default: 0 }),
      max_retries: t.integer(),
      priority: t.integer({ default: 0 }),
      run_at: t.bigint({ nullable: true }),
      due_at: t.bigint(),
      timeout_seconds: t.integer({ nullable: true }),
      backoff_base: t.fraction({ nullable: true }),
      last_error: t.text({ nullable: true }),
      exit_code: t.integer({ nullable: true }),
      worker_id: t.varchar(64, { nullable: true }),
      lease: t.integer({ default: 0 }),
      lease_expires_at: t.bigint({ nullable: true }),
      cancel_requested: t.integer({ default: 0 }),
      created_at: t.bigint(),
      updated_at: t.bigint(),
      started_at: t.bigint({ nullable: true }),
      finished_at: t.bigint({ nullable: true }),
      queue: t.varchar(128, { default: 'default' }),
      // Where and how the command runs (job flows): a directory, and a JSON object of variables.
      cwd: t.text({ nullable: true }),
      env: t.text({ nullable: true }),
    },
    indices: [
      { name: 'jobs_seq', columns: ['seq'], unique: true },
      // The claim walks this one in claim order (priority DESC, which TypeORM cannot spell; the
      // migrations create it).
      { name: 'jobs_claimable', columns: ['priority', 'due_at', 'seq'], where: CLAIMABLE, synchronize: false },
      { name: 'jobs_due', columns: ['due_at'], where: CLAIMABLE },
      { name: 'jobs_state_seq', columns: ['state', 'seq'] },
      { name: 'jobs_lease_expiry', columns: ['lease_expires_at'], where: `state = 'processing'` },
      // A queue's next jobs in claim order (priority DESC again: made by the migration).
      { name: 'jobs_queue_claimable', columns: ['queue', 'priority', 'due_at', 'seq'], where: CLAIMABLE, synchronize: false },
      { name: 'jobs_queue_state_seq', columns: ['queue', 'state', 'seq'] },
      { name: 'jobs_finished', columns: ['state', 'finished_at'], where: `state IN ('completed', 'dead')` },
    ],
  });
}
