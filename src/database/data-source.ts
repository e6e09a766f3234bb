import * as sqlite3 from 'sqlite3';
import { DataSource, DataSourceOptions } from 'typeorm';
import { DatabaseTarget } from '../env/env';
import { entitiesFor } from './entities';
import { InitialSchema1732320000000 } from './migrations/1732320000000-initial-schema';
import { DueIndex1732400000000 } from './migrations/1732400000000-due-index';
import { OutputChunks1733100000000 } from './migrations/1733100000000-output-chunks';
import { RunSequence1733000000000 } from './migrations/1733000000000-run-sequence';
import { PostgresSchema1733300000000 } from './migrations-postgres/1733300000000-postgres-schema';
import { NamedQueues1734000000000 } from './migrations/1734000000000-named-queues';
import { NamedQueuesPostgres1734000000000 } from './migrations-postgres/1734000000000-named-queues';
import { JobFlows1734100000000 } from './migrations/1734100000000-job-flows';
import { PostgresJobFlows1734100000000 } from './migrations-postgres/1734100000000-job-flows';
import { Schedules1734200000000 } from './migrations/1734200000000-schedules';
import { SchedulesPostgres1734200000000 } from './migrations-postgres/1734200000000-schedules-postgres';
import { RunTriggers1734300000000 } from './migrations/1734300000000-run-triggers';
import { ClaimOpensAttempt1734400000000 } from './migrations/1734400000000-claim-opens-attempt';
import { SqliteNamingStrategy } from './naming';

/** Each dialect's migrations, oldest first. */
export const MIGRATIONS = [
  InitialSchema1732320000000,
  DueIndex1732400000000,
  OutputChunks1733100000000,
  RunSequence1733000000000,
  NamedQueues1734000000000,
  JobFlows1734100000000,
  Schedules1734200000000,
  RunTriggers1734300000000,
  ClaimOpensAttempt1734400000000,
];
export const POSTGRES_MIGRATIONS = [PostgresSchema1733300000000, NamedQueuesPostgres1734000000000, PostgresJobFlows1734100000000, SchedulesPostgres1734200000000];

/** Connections a replica keeps to PostgreSQL: one for the write batch, the rest for reads. */
export const POSTGRES_POOL_SIZE = 10;

/** pg's own type parsers, loaded on first use (SQLite users never load pg). */
let pgTypes: typeof import('pg').types | undefined;

/**
 * bigint (int8) and numeric (SUM over bigint) come back as numbers, as SQLite's do: they are epoch
 * ms and counts. Called for every column of every result: `require` is resolved once, since a
 * call per column cost about 44 file-system lookups (statx) a job on the claim/report path.
 */
const PG_TYPES = {
  getTypeParser: (oid: number, format?: string) => {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pgTypes ??= (require('pg') as typeof import('pg')).types;
    return pgTypes.getTypeParser(oid, format as 'text');
  },
};

/** TypeORM's options for a target; migrations are run by `openDataSource`, not on initialize. */
export function dataSourceOptions(target: DatabaseTarget): DataSourceOptions {
  if (target.dialect === 'sqlite') {
    return {
      type: 'sqlite',
      database: target.path,
      // TypeORM calls driver.verbose(), which wraps every statement to build a long stack
      // trace and util.inspect its arguments: a fifth of the service's CPU under load.
      driver: { ...sqlite3, verbose: () => sqlite3 },
      enableWAL: true,
      busyTimeout: 5000,
      entities: entitiesFor('sqlite'),
      namingStrategy: new SqliteNamingStrategy(),
      migrations: MIGRATIONS,
      migrationsRun: false,
      migrationsTransactionMode: 'each',
      synchronize: false,
      logging: false,
    };
  }
  return {
    type: 'postgres',
    url: target.url,
    schema: target.schema,
    entities: entitiesFor('postgres'),
    migrations: POSTGRES_MIGRATIONS,
    migrationsRun: false,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    poolSize: POSTGRES_POOL_SIZE,
    applicationName: 'queuectl',
    extra: {
      types: PG_TYPES,
      // Named statements are planned for each execution's values (see statementName). Every
      // connection finds the tables (and the count triggers their function bodies name) in the schema.
      options: ['-c plan_cache_mode=force_custom_plan', ...(target.schema ? [`-c search_path=${target.schema}`] : [])].join(' '),
      connectionTimeoutMillis: 10_000,
    },
  };
}

/**
 * Opens the database and brings its schema up to date. On PostgreSQL the migrations run under a
 * session advisory lock (one per schema), so replicas that start together migrate once: the
 * others wait, then find nothing left to run.
 */
export async function openDataSource(options: DataSourceOptions): Promise<DataSource> {
  const dataSource = new DataSource(options);
  await dataSource.initialize();
  try {
    if (options.type !== 'postgres') {
      await dataSource.runMigrations({ transaction: 'each' });
      return dataSource;
    }
    const runner = dataSource.createQueryRunner();
    try {
      const schema = options.schema;
      const key = `queuectl.migrate.${schema ?? ''}`;
      await runner.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
      try {
        if (schema) await runner.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await dataSource.runMigrations({ transaction: 'each' });
      } finally {
        await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
      }
    } finally {
      await runner.release();
    }
    return dataSource;
  } catch (e) {
    await dataSource.destroy().catch(() => undefined);
    throw e;
  }
}
