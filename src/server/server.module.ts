import { Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import { JobsModule } from '../jobs/jobs.module';
import { WorkersModule } from '../workers/workers.module';
import { ServerController } from './server.controller';
import { ServerService } from './server.service';

@Module({
  imports: [JobsModule, WorkersModule, ConfigModule],
  controllers: [ServerController],
  providers: [ServerService],
})
export class ServerModule {}
