import { Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import { JobsModule } from '../jobs/jobs.module';
import { WorkersModule } from '../workers/workers.module';
import { QueuesController } from './queues.controller';
import { QueuesService } from './queues.service';

/** Named queues' REST; their repository belongs to JobsModule, whose claims and enqueues read it. */
@Module({
  imports: [JobsModule, WorkersModule, ConfigModule],
  controllers: [QueuesController],
  providers: [QueuesService],
  exports: [QueuesService],
})
export class QueuesModule {}
