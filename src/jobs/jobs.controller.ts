import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { minimalAnswer, prefersMinimal } from '../common/prefer';
import { IdempotentAnswer, IdempotentEnqueue } from './idempotent-enqueue';
import { JobState } from './job-state';
import { JobIdPipe } from './job-id.pipe';
import { JobsService } from './jobs.service';
import { EnqueueBatchDto, EnqueueJobDto } from './dto/enqueue-job.dto';
import { ListJobsQuery, PurgeDto } from './dto/list-jobs.query';

const IDEMPOTENCY_KEY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'up to 255 visible ASCII characters; the same key with the same body within 24 h answers the first answer again (200, header Idempotent-Replayed: true) and enqueues nothing; with another body: 409',
};

const PREFER_HEADER = {
  name: 'Prefer',
  required: false,
  description:
    'return=minimal (RFC 7240): answer the new job\'s id alone, {"id"}, or a batch\'s ids in order, {"ids":[…]}, instead of the jobs; the answer then carries Preference-Applied: return=minimal',
};

@ApiTags('jobs')
@ApiBearerAuth()
@Controller('api/jobs')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly idempotent: IdempotentEnqueue,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Enqueue one job; answers once it is on disk' })
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiHeader(PREFER_HEADER)
  async enqueue(
    @Body() body: EnqueueJobDto,
    @Headers('idempotency-key') key: string | undefined,
    @Headers('prefer') prefer: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    const minimal = prefersMinimal(prefer);
    if (key !== undefined) {
      const answer = replay(res, await this.idempotent.enqueue(key, 'job', [body], ([job]) => job));
      return minimal ? minimalAnswer(res, { id: answer.id }) : answer;
    }
    if (minimal) return minimalAnswer(res, { id: (await this.jobs.enqueueIds([body]))[0] });
    return this.jobs.enqueue(body);
  }

  @Post('batch')
  @ApiOperation({ summary: 'Enqueue up to 10,000 jobs in one transaction: all or none' })
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiHeader(PREFER_HEADER)
  async enqueueBatch(
    @Body() body: EnqueueBatchDto,
    @Headers('idempotency-key') key: string | undefined,
    @Headers('prefer') prefer: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    const minimal = prefersMinimal(prefer);
    if (key !== undefined) {
      const answer = replay(res, await this.idempotent.enqueue(key, 'batch', body.jobs, (jobs) => ({ jobs })));
      return minimal ? minimalAnswer(res, { ids: answer.jobs.map((j) => j.id) }) : answer;
    }
    if (minimal) return minimalAnswer(res, { ids: await this.jobs.enqueueIds(body.jobs) });
    // `{ jobs }` already as JSON text: sent as it is, with the type res.json would give it.
    const text = await this.jobs.enqueueBatch(body.jobs);
    res.type('json');
    return text;
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

/** The status of an idempotent answer: 201 when it enqueued, 200 when it is the first answer given again. */
function replay<T>(res: Response, answer: IdempotentAnswer<T>): T {
  res.status(answer.status);
  if (answer.status === 200) res.setHeader('Idempotent-Replayed', 'true');
  return answer.body;
}
