import { Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import { JobsModule } from '../jobs/jobs.module';
import { MetricsModule } from '../metrics/metrics.module';
import { WorkersModule } from '../workers/workers.module';
import { SchedulesModule } from '../schedules/schedules.module';
import { AuthController } from './auth.controller';
import { ConfigPageController } from './config-page.controller';
import { DashboardSessions } from './dashboard-sessions';
import { DlqPageController } from './dlq-page.controller';
import { JobsPagesController } from './jobs-pages.controller';
import { OverviewController } from './overview.controller';
import { SessionGuard } from './session.guard';
import { WorkersPageController } from './workers-page.controller';
import { QueuesPageController } from './queues-page.controller';
import { QueuesModule } from '../queues/queues.module';
import { SchedulesPageController } from './schedules-page.controller';

/** The server-rendered dashboard: pages over the same services as the REST API. */
@Module({
  imports: [JobsModule, ConfigModule, MetricsModule, WorkersModule, QueuesModule, SchedulesModule],
  controllers: [AuthController, OverviewController, JobsPagesController, DlqPageController, ConfigPageController, WorkersPageController, QueuesPageController, SchedulesPageController],
  providers: [DashboardSessions, SessionGuard],
})
export class DashboardModule {}
