import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module';
import { ScheduleTicker } from './schedule-ticker';
import { SchedulesController } from './schedules.controller';
import { SchedulesRepository } from './schedules.repository';
import { SchedulesService } from './schedules.service';

/** Recurring jobs: cron expressions and intervals, each tick enqueued once across replicas. */
@Module({
  imports: [JobsModule],
  controllers: [SchedulesController],
  providers: [SchedulesRepository, SchedulesService, ScheduleTicker],
  exports: [SchedulesService, ScheduleTicker],
})
export class SchedulesModule {}
