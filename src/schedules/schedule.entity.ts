import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

/** A row of `schedules` (times in epoch milliseconds). */
export interface ScheduleRow {
  name: string;
  /** A cron expression, or null for an interval schedule. */
  cron: string | null;
  /** The IANA zone the cron expression is read in (UTC unless given); null for an interval. */
  timezone: string | null;
  every_seconds: number | null;
  catch_up: string;
  /** The job each tick enqueues: a POST /api/jobs body without id and run_at, as JSON. */
  job: string;
  paused: number;
  /** The next tick to enqueue. Advanced by compare-and-set, in the transaction that enqueues the tick. */
  next_run_at: number;
  last_run_at: number | null;
  last_job_id: string | null;
  created_at: number;
  updated_at: number;
}

/** `schedules`: recurring jobs, one row a schedule. */
export function scheduleEntity(dialect: Dialect): EntitySchema<ScheduleRow> {
  const t = columns(dialect);
  return new EntitySchema<ScheduleRow>({
    name: 'schedules',
    tableName: 'schedules',
    columns: {
      name: t.varchar(100, { primary: true }),
      cron: t.varchar(256, { nullable: true }),
      timezone: t.varchar(64, { nullable: true }),
      every_seconds: t.integer({ nullable: true }),
      catch_up: t.varchar(8),
      job: t.text(),
      paused: t.integer({ default: 0 }),
      next_run_at: t.bigint(),
      last_run_at: t.bigint({ nullable: true }),
      last_job_id: t.varchar(128, { nullable: true }),
      created_at: t.bigint(),
      updated_at: t.bigint(),
    },
    indices: [{ name: 'schedules_next_run', columns: ['next_run_at'] }],
  });
}
