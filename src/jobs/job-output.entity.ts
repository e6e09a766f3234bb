import { EntitySchema } from 'typeorm';
import { columns, constraintName } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

export interface OutputChunkRow {
  job_id: string;
  run: number;
  byte_offset: number;
  data: Buffer;
}

/** `job_output`: a run's output as chunks of bytes keyed by the offset of their first byte. */
export function jobOutputEntity(dialect: Dialect): EntitySchema<OutputChunkRow> {
  const t = columns(dialect);
  return new EntitySchema<OutputChunkRow>({
    name: 'job_output',
    tableName: 'job_output',
    columns: {
      job_id: t.varchar(128, { primary: true }),
      run: t.integer({ primary: true }),
      byte_offset: t.bigint({ primary: true }),
      data: t.bytes(),
    },
    relations: {
      attempt: {
        type: 'many-to-one',
        target: 'job_attempts',
        joinColumn: [
          { name: 'job_id', referencedColumnName: 'job_id', foreignKeyConstraintName: constraintName(dialect, 'job_output_attempt_fkey') },
          { name: 'run', referencedColumnName: 'run' },
        ],
        onDelete: 'CASCADE',
      },
    } as never,
  });
}
