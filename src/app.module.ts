import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { Clock, DatabaseClock, SystemClock } from './common/clock';
import { ErrorEnvelopeFilter } from './common/error-envelope.filter';
import { LoginThrottle } from './common/login-throttle';
import { API_TOKEN, TokenGuard } from './common/token.guard';
import { strictValidationPipe } from './common/validation';
import { ConfigModule } from './config/config.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { DatabaseModule } from './database/database.module';
import { SqlDatabase } from './database/sql';
import { Env } from './env/env';
import { EnvModule } from './env/env.module';
import { JobsModule } from './jobs/jobs.module';
import { MetricsModule } from './metrics/metrics.module';
import { SchedulesModule } from './schedules/schedules.module';
import { SHUTDOWN, ShutdownHook } from './server/server.service';
import { ServerModule } from './server/server.module';
import { WorkersModule } from './workers/workers.module';
import { QueuesModule } from './queues/queues.module';

export interface AppOptions {
  env: Env;
  token: string;
  /** Called when a client asks the service to stop (POST /api/shutdown). */
  onShutdown: ShutdownHook;
  clock?: Clock;
}

/**
 * The service's clock: this machine's on SQLite (one service), the database server's on
 * PostgreSQL, so every replica stores and compares times of one clock (see DatabaseClock).
 */
async function systemOrDatabaseClock(db: SqlDatabase): Promise<Clock> {
  if (db.dialect === 'sqlite') return new SystemClock();
  return DatabaseClock.start(async () => {
    const [{ now }] = await db.rows<{ now: number }>('SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS now');
    return Number(now);
  });
}

/** The whole service. The pipe, guard and filter are providers, so tests get production behaviour. */
@Module({})
export class AppModule {
  static forRoot(options: AppOptions): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [EnvModule.forRoot(options.env), DatabaseModule, ConfigModule, JobsModule, WorkersModule, QueuesModule, ServerModule, MetricsModule, DashboardModule, SchedulesModule],
      providers: [
        options.clock ? { provide: Clock, useValue: options.clock } : { provide: Clock, inject: [SqlDatabase], useFactory: systemOrDatabaseClock },
        { provide: API_TOKEN, useValue: options.token },
        { provide: SHUTDOWN, useValue: options.onShutdown },
        LoginThrottle,
        { provide: APP_PIPE, useFactory: strictValidationPipe },
        { provide: APP_GUARD, useClass: TokenGuard },
        { provide: APP_FILTER, useClass: ErrorEnvelopeFilter },
      ],
      exports: [Clock, API_TOKEN, SHUTDOWN, LoginThrottle],
    };
  }
}
