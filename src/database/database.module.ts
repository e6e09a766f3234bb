import { Global, Module } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource } from 'typeorm';
import { ENV, Env } from '../env/env';
import { dataSourceOptions, openDataSource } from './data-source';
import { Notifications } from './notifications';
import { PostgresDatabase } from './postgres-sql';
import { SqlDatabase, SqliteDatabase } from './sql';
import { ensureDirectory } from '../common/directories';

export { MIGRATIONS, POSTGRES_MIGRATIONS } from './data-source';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ENV],
      useFactory: (env: Env) => {
        if (env.database.dialect === 'sqlite') {
          ensureDirectory(dirname(env.database.path));
          // Created here, 0600, before SQLite would create it 0644: it holds every command and its
          // output. SQLite gives the -wal and -shm files the database file's mode.
          closeSync(openSync(env.database.path, 'a', 0o600));
        }
        // No retries on boot: a database that cannot be opened is reported at once.
        return { ...dataSourceOptions(env.database), retryAttempts: 0 };
      },
      dataSourceFactory: (options) => openDataSource(options!),
    }),
  ],
  providers: [
    {
      provide: SqlDatabase,
      inject: [getDataSourceToken(), ENV],
      useFactory: async (dataSource: DataSource, env: Env) => {
        if (env.database.dialect === 'postgres') return new PostgresDatabase(dataSource, env.database.prepared ?? true);
        await dataSource.query(`PRAGMA synchronous = ${env.sqliteSync === 'full' ? 'FULL' : 'NORMAL'}`);
        return new SqliteDatabase(dataSource);
      },
    },
    {
      provide: Notifications,
      inject: [SqlDatabase, getDataSourceToken()],
      useFactory: (db: SqlDatabase, dataSource: DataSource) => new Notifications(db, dataSource),
    },
  ],
  exports: [SqlDatabase, Notifications],
})
export class DatabaseModule {}
