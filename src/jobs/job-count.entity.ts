import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

export interface JobCountRow {
  state: string;
  /** PostgreSQL only: the writing backend's shard (see the PostgreSQL schema migration). */
  shard?: number;
  n: number;
}

/** `job_counts`: jobs per state, kept by triggers on `jobs` (one row a state; on PostgreSQL a row a state and shard). */
export function jobCountEntity(dialect: Dialect): EntitySchema<JobCountRow> {
  const t = columns(dialect);
  return new EntitySchema<JobCountRow>({
    name: 'job_counts',
    tableName: 'job_counts',
    columns: {
      state: t.varchar(16, { primary: true }),
      ...(dialect === 'postgres' ? { shard: t.integer({ primary: true }) } : {}),
      n: t.bigint(),
    },
  });
}
