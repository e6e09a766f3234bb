import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

/** A row of `idempotency_keys`: the first answer to an enqueue sent with an `Idempotency-Key`. */
export interface IdempotencyKeyRow {
  key: string;
  /** sha256 of the route and the request body, hex. */
  request_hash: string;
  status: number;
  answer: string;
  created_at: number;
}

/** `idempotency_keys`: written in the transaction of the enqueue it answers; kept 24 h. */
export function idempotencyKeyEntity(dialect: Dialect): EntitySchema<IdempotencyKeyRow> {
  const t = columns(dialect);
  return new EntitySchema<IdempotencyKeyRow>({
    name: 'idempotency_keys',
    tableName: 'idempotency_keys',
    columns: {
      key: t.varchar(255, { primary: true }),
      request_hash: t.varchar(64),
      status: t.integer(),
      answer: t.text(),
      created_at: t.bigint(),
    },
    indices: [{ name: 'idempotency_keys_created', columns: ['created_at'] }],
  });
}
