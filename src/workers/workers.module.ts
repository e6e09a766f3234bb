import { Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import { JobsModule } from '../jobs/jobs.module';
import { WorkersRepository } from './workers.repository';

@Module({
  imports: [JobsModule, ConfigModule],
  providers: [WorkersRepository],
  exports: [WorkersRepository],
})
export class WorkersModule {}
