import { Module } from '@nestjs/common';
import { ClaimHandoff } from './claim-handoff';
import { ConfigModule } from '../config/config.module';
import { DlqController } from './dlq.controller';
import { JobDependenciesRepository } from './job-dependencies.repository';
import { JobOutputController } from './job-output.controller';
import { JobOutputRepository } from './job-output.repository';
import { JobOutputService } from './job-output.service';
import { JobRunsService } from './job-runs.service';
import { JobSignals } from './job-signals';
import { JobsController } from './jobs.controller';
import { JobsRepository } from './jobs.repository';
import { JobsService } from './jobs.service';
import { IdempotencyKeysRepository } from './idempotency-keys.repository';
import { IdempotentEnqueue } from './idempotent-enqueue';
import { LeaseWatch } from './lease-watch';
import { ReportAnswersRepository } from './report-answers.repository';
import { RetentionSweeper } from './retention-sweeper';
import { QueuesRepository } from '../queues/queues.repository';

@Module({
  imports: [ConfigModule],
  controllers: [JobsController, DlqController, JobOutputController],
  providers: [ClaimHandoff, QueuesRepository, JobsRepository, JobDependenciesRepository, JobOutputRepository, ReportAnswersRepository, LeaseWatch, JobsService, JobSignals, JobRunsService, JobOutputService, RetentionSweeper, IdempotencyKeysRepository, IdempotentEnqueue],
  exports: [ClaimHandoff, QueuesRepository, LeaseWatch, JobsRepository, JobDependenciesRepository, JobOutputRepository, JobsService, JobSignals, JobRunsService, JobOutputService, RetentionSweeper],
})
export class JobsModule {}
