import { spawnSync } from 'node:child_process';
import { Client } from 'pg';
import { basename, join } from 'node:path';
import { Dialect } from '../../src/database/sql';

/**
 * The database the tests run on. `npm test` runs the suite on SQLite, and again on PostgreSQL for
 * the specs of the `e2e-pg` project (jest.config.js) when QUEUECTL_TEST_DATABASE_URL names a
 * database: that project sets QUEUECTL_TEST_DIALECT=postgres. Each temp home gets a schema of its
 * own, named after it, created by the service's migrations and dropped with the home.
 */
export const TEST_DIALECT: Dialect = process.env.QUEUECTL_TEST_DIALECT === 'postgres' ? 'postgres' : 'sqlite';
export const TEST_DATABASE_URL = process.env.QUEUECTL_TEST_DATABASE_URL;

/** The schema a home's service uses on PostgreSQL. */
export function schemaOf(home: string): string {
  return `t_${basename(home).toLowerCase().replace(/[^a-z0-9]/g, '_')}`.slice(0, 63);
}

/** PostgreSQL's URL with a home's schema, for a test that opens the database itself. */
export function postgresUrlOf(home: string): string {
  if (!TEST_DATABASE_URL) throw new Error('QUEUECTL_TEST_DATABASE_URL is not set');
  return `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}schema=${schemaOf(home)}`;
}

/**
 * The environment that points a service at the test database of a home: nothing on SQLite (the
 * default file in the home); on PostgreSQL the home's schema and the token PostgreSQL mode needs.
 */
export function databaseEnv(home: string, token: string): Record<string, string> {
  if (TEST_DIALECT === 'sqlite') return {};
  return { QUEUECTL_DATABASE_URL: postgresUrlOf(home), QUEUECTL_TOKEN: token };
}

/** Drops a home's schema (PostgreSQL); synchronous, as removing the home is. */
export function dropDatabaseOf(home: string): void {
  if (TEST_DIALECT === 'sqlite' || !TEST_DATABASE_URL) return;
  const r = spawnSync('psql', [TEST_DATABASE_URL, '-q', '-v', 'ON_ERROR_STOP=1', '-c', `DROP SCHEMA IF EXISTS ${schemaOf(home)} CASCADE`], {
    encoding: 'utf8',
    env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
  });
  if (r.status !== 0) throw new Error(`could not drop the test schema ${schemaOf(home)}: ${r.stderr}`);
}

/** SQL for the upper-case hex of a text column's UTF-8 bytes, in the test dialect. */
export function sqlHexOf(column: string): string {
  return TEST_DIALECT === 'postgres' ? `upper(encode(convert_to(${column}, 'UTF8'), 'hex'))` : `hex(${column})`;
}

/** QUEUECTL_DATABASE_URL for a home's database in the test dialect. */
export function databaseUrlOf(home: string): string {
  return TEST_DIALECT === 'postgres' ? postgresUrlOf(home) : `sqlite:${join(home, 'queue.db')}`;
}

/** What this process sends to PostgreSQL while `work` runs: one statement text a round trip (pg's Client.query calls). */
export async function sentToPostgres<T>(work: () => Promise<T>): Promise<{ value: T; sent: string[] }> {
  const sent: string[] = [];
  const query = Client.prototype.query as (...args: unknown[]) => unknown;
  const spy = jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
    sent.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string }).text));
    return query.apply(this, args);
  } as never);
  try {
    return { value: await work(), sent };
  } finally {
    spy.mockRestore();
  }
}
