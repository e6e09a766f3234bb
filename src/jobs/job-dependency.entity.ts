import { EntitySchema } from 'typeorm';
import { columns, constraintName } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

export interface JobDependencyRow {
  job_id: string;
  depends_on: string;
}

/**
 * `job_dependencies`: job `job_id` runs only after `depends_on` completed (`run --after`). Goes
 * with the waiting job; the job waited on may be purged later (a dependency no longer there
 * counts as done: only finished jobs are purged, and a dead one has killed its dependents).
 * Indexed both ways: a job's own list, and the jobs a finished job releases or kills.
 */
export function jobDependencyEntity(dialect: Dialect): EntitySchema<JobDependencyRow> {
  const t = columns(dialect);
  return new EntitySchema<JobDependencyRow>({
    name: 'job_dependencies',
    tableName: 'job_dependencies',
    columns: {
      job_id: t.varchar(128, { primary: true }),
      depends_on: t.varchar(128, { primary: true }),
    },
    relations: {
      job: {
        type: 'many-to-one',
        target: 'jobs',
        joinColumn: { name: 'job_id', referencedColumnName: 'id', foreignKeyConstraintName: constraintName(dialect, 'job_dependencies_job_fkey') },
        onDelete: 'CASCADE',
      },
    } as never,
    indices: [{ name: 'job_dependencies_depends_on', columns: ['depends_on', 'job_id'] }],
  });
}
