import { EntitySchema } from 'typeorm';
import { columns, constraintName } from '../database/entities/column-types';
import { Dialect } from '../database/sql';
import { AttemptRow } from './job-row';

/** `job_attempts`: one row a run of a job's command, keyed by (job, run); goes with its job. */
export function jobAttemptEntity(dialect: Dialect): EntitySchema<AttemptRow> {
  const t = columns(dialect);
  return new EntitySchema<AttemptRow>({
    name: 'job_attempts',
    tableName: 'job_attempts',
    columns: {
      job_id: t.varchar(128, { primary: true }),
      run: t.integer({ primary: true }),
      attempt: t.integer(),
      worker_id: t.varchar(64, { nullable: true }),
      started_at: t.bigint(),
      finished_at: t.bigint({ nullable: true }),
      exit_code: t.integer({ nullable: true }),
      error: t.text({ nullable: true }),
      output_bytes: t.integer({ default: 0 }),
      output_truncated: t.integer({ default: 0 }),
    },
    relations: {
      job: {
        type: 'many-to-one',
        target: 'jobs',
        joinColumn: { name: 'job_id', referencedColumnName: 'id', foreignKeyConstraintName: constraintName(dialect, 'job_attempts_job_fkey') },
        onDelete: 'CASCADE',
      },
    } as never,
    indices: [{ name: 'job_attempts_finished', columns: ['finished_at'] }],
  });
}
