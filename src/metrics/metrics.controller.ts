import { Controller, Get, Header, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import type { Response } from 'express';
import { MetricsService } from './metrics.service';
import { PrometheusExporter } from './prometheus.exporter';

export class MetricsQuery {
  @ApiPropertyOptional({ description: 'trailing window in minutes', default: 60, minimum: 1, maximum: 1440 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'minutes must be a whole number' })
  @Min(1, { message: 'minutes must be from 1 to 1440' })
  @Max(1440, { message: 'minutes must be from 1 to 1440' })
  minutes?: number;
}

@ApiTags('metrics')
@ApiBearerAuth()
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly prometheus: PrometheusExporter,
  ) {}

  @Get('api/metrics')
  @ApiOperation({ summary: 'Counts, completed and failed per minute, success rate, durations, queue latency, workers' })
  snapshot(@Query() query: MetricsQuery) {
    return this.metrics.snapshot(query.minutes ?? 60);
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'The same figures in Prometheus text format' })
  async prometheusText(@Res({ passthrough: true }) res: Response) {
    const text = await this.prometheus.render();
    res.type(this.prometheus.contentType);
    return text;
  }
}
