import { Global, Module } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import * as sqlite3 from 'sqlite3';
import { DataSource } from 'typeorm';
import { ENV, Env } from '../env/env';
import { InitialSchema1732320000000 } from './migrations/1732320000000-initial-schema';
import { DueIndex1732400000000 } from './migrations/1732400000000-due-index';
import { OutputChunks1733100000000 } from './migrations/1733100000000-output-chunks';
import { RunSequence1733000000000 } from './migrations/1733000000000-run-sequence';
import { SqlDatabase } from './sql';
import { ensureDirectory } from '../common/directories';

export const MIGRATIONS = [InitialSchema1732320000000, DueIndex1732400000000, OutputChunks1733100000000, RunSequence1733000000000];

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ENV],
      useFactory: (env: Env) => {
        ensureDirectory(dirname(env.sqlitePath));
        // Created here, 0600, before SQLite would create it 0644: it holds every command and its
        // output. SQLite gives the -wal and -shm files the database file's mode.
        closeSync(openSync(env.sqlitePath, 'a', 0o600));
        return {
          type: 'sqlite' as const,
          database: env.sqlitePath,
          // TypeORM calls driver.verbose(), which wraps every statement to build a long stack
          // trace and util.inspect its arguments: a fifth of the service's CPU under load.
          driver: { ...sqlite3, verbose: () => sqlite3 },
          enableWAL: true,
          busyTimeout: 5000,
          migrations: MIGRATIONS,
          migrationsRun: true,
          migrationsTransactionMode: 'each' as const,
          synchronize: false,
          logging: false,
          // No retries on boot: a database that cannot be opened is reported at once.
          retryAttempts: 0,
        };
      },
      dataSourceFactory: async (options) => {
        const dataSource = new DataSource(options!);
        await dataSource.initialize();
        return dataSource;
      },
    }),
  ],
  providers: [
    {
      provide: SqlDatabase,
      inject: [getDataSourceToken(), ENV],
      useFactory: async (dataSource: DataSource, env: Env) => {
        await dataSource.query(`PRAGMA synchronous = ${env.sqliteSync === 'full' ? 'FULL' : 'NORMAL'}`);
        return new SqlDatabase(dataSource);
      },
    },
  ],
  exports: [SqlDatabase],
})
export class DatabaseModule {}
