import { EntitySchemaColumnOptions } from 'typeorm';
import { Dialect } from '../sql';

/**
 * The column types the two schemas use, by what they hold. Most are spelled the same in both;
 * these differ: a fraction (`real` on SQLite, `double precision` on PostgreSQL) and bytes (`blob`,
 * `bytea`). Times are bigint epoch milliseconds in both.
 */
export function columns(dialect: Dialect) {
  const c = (type: EntitySchemaColumnOptions['type'], more: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({ type, ...more });
  return {
    varchar: (length: number, more: Partial<EntitySchemaColumnOptions> = {}) => c('varchar', { length, ...more }),
    text: (more: Partial<EntitySchemaColumnOptions> = {}) => c('text', more),
    integer: (more: Partial<EntitySchemaColumnOptions> = {}) => c('integer', more),
    /** Epoch milliseconds, counters and offsets: numbers in JavaScript either way. */
    bigint: (more: Partial<EntitySchemaColumnOptions> = {}) => c('bigint', more),
    fraction: (more: Partial<EntitySchemaColumnOptions> = {}) => c(dialect === 'postgres' ? 'double precision' : 'real', more),
    bytes: (more: Partial<EntitySchemaColumnOptions> = {}) => c(dialect === 'postgres' ? 'bytea' : 'blob', more),
  };
}

/**
 * Constraint names as each schema has them: PostgreSQL's are given by its migration; SQLite's
 * schema gives none (and TypeORM then reads none back).
 */
export function constraintName(dialect: Dialect, name: string): string | undefined {
  return dialect === 'postgres' ? name : undefined;
}
