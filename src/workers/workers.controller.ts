import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ClaimDto, HeartbeatDto, OutputDto, RegisterWorkerDto, ReportDto, StartWorkersDto, StopWorkersDto } from './dto/worker-protocol.dto';
import { WorkerIdPipe } from './worker-id.pipe';
import { WorkerSupervisor } from './worker-supervisor';
import { WorkersService } from './workers.service';

/** Aborts when the client hangs up before the answer is sent (a long-poll whose worker died). */
function hangUp(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => !res.writableFinished && controller.abort());
  return controller.signal;
}

@ApiTags('workers')
@ApiBearerAuth()
@Controller('api/workers')
export class WorkersController {
  constructor(
    private readonly workers: WorkersService,
    private readonly supervisor: WorkerSupervisor,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Live workers, with heartbeat age and the jobs they run' })
  async list() {
    return { workers: await this.workers.list() };
  }

  @Post()
  @ApiOperation({ summary: 'Start worker processes inside the replica that answers; `replica` names it (host:pid), `pids` its new worker processes' })
  start(@Body() body: StartWorkersDto) {
    return this.supervisor.start(body.count);
  }

  @Post('stop')
  @HttpCode(200)
  @ApiOperation({ summary: 'Ask one worker (id) or all to stop after their running jobs; none running is not an error' })
  stop(@Body() body: StopWorkersDto) {
    return this.workers.requestStop(body.id);
  }

  @Post('register')
  @ApiOperation({ summary: 'Worker protocol: register; answers the id, heartbeat interval, lease timeout and output limit' })
  register(@Body() body: RegisterWorkerDto) {
    return this.workers.register(body);
  }

  @Post(':id/claim')
  @HttpCode(200)
  @ApiOperation({ summary: 'Worker protocol: claim due jobs, waiting up to wait_ms for one (long-poll)' })
  claim(@Param('id', WorkerIdPipe) id: string, @Body() body: ClaimDto, @Res({ passthrough: true }) res: Response) {
    return this.workers.claim(id, body.limit ?? 1, body.wait_ms ?? 0, hangUp(res), body.queues);
  }

  @Post(':id/report')
  @HttpCode(200)
  @ApiOperation({ summary: 'Worker protocol: report finished runs, release unstarted ones, and claim the next jobs' })
  report(@Param('id', WorkerIdPipe) id: string, @Body() body: ReportDto) {
    const results = body.results.map((r) => ({
      id: r.id,
      lease: r.lease,
      exitCode: r.exit_code,
      signal: r.signal ?? null,
      error: r.error ?? null,
      output: Buffer.from(r.output_base64 ?? '', 'base64'),
      outputOffset: r.output_offset ?? 0,
      truncated: r.truncated ?? false,
    }));
    return this.workers.report(id, results, body.released ?? [], body.claim ?? 0, body.report_id === undefined ? undefined : { id: body.report_id, firstTry: body.first_try === true }, body.queues);
  }

  @Post(':id/heartbeat')
  @HttpCode(200)
  @ApiOperation({ summary: 'Worker protocol: extend the leases of running jobs; answers stop, cancel and lost' })
  heartbeat(@Param('id', WorkerIdPipe) id: string, @Body() body: HeartbeatDto) {
    return this.workers.heartbeat(id, body.running);
  }

  @Post(':id/output')
  @HttpCode(200)
  @ApiOperation({ summary: 'Worker protocol: store output of running jobs (bytes as base64, each chunk at its byte offset: a chunk sent again is stored once)' })
  output(@Param('id', WorkerIdPipe) id: string, @Body() body: OutputDto) {
    return this.workers.output(
      id,
      body.chunks.map((c) => ({ id: c.id, lease: c.lease, offset: c.offset, data: Buffer.from(c.data_base64, 'base64'), truncated: c.truncated ?? false })),
    );
  }

  @Post(':id/deregister')
  @HttpCode(200)
  @ApiOperation({ summary: 'Worker protocol: the worker is leaving' })
  deregister(@Param('id', WorkerIdPipe) id: string) {
    return this.workers.deregister(id);
  }
}
