import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';
import type { WorkerRow } from './workers.repository';

/** `workers`: one row a registration; live while its heartbeat is fresh and it has not said goodbye. */
export function workerEntity(dialect: Dialect): EntitySchema<WorkerRow> {
  const t = columns(dialect);
  return new EntitySchema<WorkerRow>({
    name: 'workers',
    tableName: 'workers',
    columns: {
      id: t.varchar(64, { primary: true }),
      hostname: t.varchar(255),
      pid: t.integer(),
      concurrency: t.integer({ default: 1 }),
      started_at: t.bigint(),
      heartbeat_at: t.bigint(),
      stop_requested: t.integer({ default: 0 }),
      stopped_at: t.bigint({ nullable: true }),
      queues: t.text({ nullable: true }),
    },
    indices: [{ name: 'workers_heartbeat', columns: ['heartbeat_at'] }],
  });
}
