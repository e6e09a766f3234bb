import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';

export interface RunSequenceRow {
  id: number;
  last: number;
}

/**
 * `run_sequence` (SQLite only): the last fencing value given, one row. PostgreSQL draws them from
 * the sequence `run_numbers`, which TypeORM's entities do not describe.
 */
export function runSequenceEntity(): EntitySchema<RunSequenceRow> {
  const t = columns('sqlite');
  return new EntitySchema<RunSequenceRow>({
    name: 'run_sequence',
    tableName: 'run_sequence',
    columns: {
      // `integer PRIMARY KEY CHECK (id = 1)`: the schema says no NOT NULL (SQLite's rowid needs none).
      id: t.integer({ primary: true, nullable: true }),
      last: t.bigint(),
    },
  });
}
