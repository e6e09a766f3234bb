import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { JobIdPipe } from './job-id.pipe';
import { JobsService } from './jobs.service';
import { ListJobsQuery } from './dto/list-jobs.query';

@ApiTags('dlq')
@ApiBearerAuth()
@Controller('api/dlq')
export class DlqController {
  constructor(private readonly jobs: JobsService) {}

  @Get()
  @ApiOperation({ summary: 'Dead jobs, newest first' })
  list(@Query() query: ListJobsQuery) {
    return this.jobs.list({ state: 'dead', search: query.q, limit: query.limit, cursor: query.cursor });
  }

  @Post('retry-all')
  @HttpCode(200)
  @ApiOperation({ summary: 'Put every dead job back to pending with attempts 0' })
  retryAll() {
    return this.jobs.retryAllDead();
  }

  @Post(':id/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Put one dead job back to pending with attempts 0' })
  retry(@Param('id', JobIdPipe) id: string) {
    return this.jobs.retryDead(id);
  }
}
