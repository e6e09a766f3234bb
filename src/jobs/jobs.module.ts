import { Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import { DlqController } from './dlq.controller';
import { JobSignals } from './job-signals';
import { JobsController } from './jobs.controller';
import { JobsRepository } from './jobs.repository';
import { JobsService } from './jobs.service';

@Module({
  imports: [ConfigModule],
  controllers: [JobsController, DlqController],
  providers: [JobsRepository, JobsService, JobSignals],
  exports: [JobsRepository, JobsService, JobSignals],
})
export class JobsModule {}
