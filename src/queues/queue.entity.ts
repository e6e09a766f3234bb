import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

/** A row of `queues`: a queue's settings. Overrides are null when the global setting applies. */
export interface QueueRow {
  name: string;
  paused: number;
  /** Jobs of the queue processing at once, across all workers and replicas; 0 = no limit. */
  concurrency: number;
  max_retries: number | null;
  backoff_base: number | null;
  backoff_max: number | null;
  job_timeout: number | null;
  created_at: number;
  updated_at: number;
}

/** `queues`: one row per queue that has settings (see queues-schema.ts). */
export function queueEntity(dialect: Dialect): EntitySchema<QueueRow> {
  const t = columns(dialect);
  return new EntitySchema<QueueRow>({
    name: 'queues',
    tableName: 'queues',
    columns: {
      name: t.varchar(128, { primary: true }),
      paused: t.integer({ default: 0 }),
      concurrency: t.integer({ default: 0 }),
      max_retries: t.integer({ nullable: true }),
      backoff_base: t.fraction({ nullable: true }),
      backoff_max: t.integer({ nullable: true }),
      job_timeout: t.integer({ nullable: true }),
      created_at: t.bigint(),
      updated_at: t.bigint(),
    },
  });
}
