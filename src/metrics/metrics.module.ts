import { Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import { JobsModule } from '../jobs/jobs.module';
import { WorkersModule } from '../workers/workers.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { PrometheusExporter } from './prometheus.exporter';

@Module({
  imports: [JobsModule, WorkersModule, ConfigModule],
  controllers: [MetricsController],
  providers: [MetricsService, PrometheusExporter],
  exports: [MetricsService],
})
export class MetricsModule {}
