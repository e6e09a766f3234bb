import { Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import { JobsModule } from '../jobs/jobs.module';
import { LeaseReaper } from './lease-reaper';
import { WorkerSupervisor } from './worker-supervisor';
import { WorkersController } from './workers.controller';
import { WorkersRepository } from './workers.repository';
import { WorkersService } from './workers.service';

@Module({
  imports: [JobsModule, ConfigModule],
  controllers: [WorkersController],
  providers: [WorkersRepository, WorkersService, LeaseReaper, WorkerSupervisor],
  exports: [WorkersRepository, WorkersService, LeaseReaper, WorkerSupervisor],
})
export class WorkersModule {}
