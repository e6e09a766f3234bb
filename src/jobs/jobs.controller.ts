import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { JobState } from './job-state';
import { JobIdPipe } from './job-id.pipe';
import { JobsService } from './jobs.service';
import { EnqueueBatchDto, EnqueueJobDto } from './dto/enqueue-job.dto';
import { ListJobsQuery, PurgeDto } from './dto/list-jobs.query';

@ApiTags('jobs')
@ApiBearerAuth()
@Controller('api/jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @ApiOperation({ summary: 'Enqueue one job; answers once it is on disk' })
  enqueue(@Body() body: EnqueueJobDto) {
    return this.jobs.enqueue(body);
  }

  @Post('batch')
  @ApiOperation({ summary: 'Enqueue up to 10,000 jobs in one transaction: all or none' })
  async enqueueBatch(@Body() body: EnqueueBatchDto) {
    return { jobs: await this.jobs.enqueueMany(body.jobs) };
  }

  @Get()
  @ApiOperation({ summary: 'List jobs, newest first, with keyset pagination' })
  list(@Query() query: ListJobsQuery) {
    return this.jobs.list({ state: query.state as JobState | undefined, search: query.q, limit: query.limit, cursor: query.cursor, queue: query.queue });
  }

  @Post('purge')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete completed or dead jobs, optionally only older ones' })
  purge(@Body() body: PurgeDto) {
    return this.jobs.purge(body.state, body.older_than_seconds);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One job with all its runs' })
  show(@Param('id', JobIdPipe) id: string) {
    return this.jobs.show(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel: pending/failed go to the DLQ, a running command is killed first' })
  cancel(@Param('id', JobIdPipe) id: string) {
    return this.jobs.cancel(id);
  }
}
