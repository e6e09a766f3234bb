import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { FollowQuery, OutputQuery } from './dto/output.query';
import { JobIdPipe } from './job-id.pipe';
import { JobOutputService, OutputEvent } from './job-output.service';

/** SSE followers get a comment this often, so proxies and idle timeouts keep the stream open. */
const KEEPALIVE_MS = 15_000;

@ApiTags('jobs')
@ApiBearerAuth()
@Controller('api/jobs')
export class JobOutputController {
  constructor(private readonly output: JobOutputService) {}

  @Get(':id/output')
  @ApiProduces('text/plain')
  @ApiOperation({ summary: "A run's stdout and stderr as text (X-Queuectl-Run names the run; empty before the first run)" })
  async read(@Param('id', JobIdPipe) id: string, @Query() query: OutputQuery, @Res() res: Response) {
    const out = await this.output.read(id, query.run, query.tail);
    if (out.run !== null) res.setHeader('x-queuectl-run', String(out.run));
    res.setHeader('x-queuectl-truncated', String(out.truncated));
    res.setHeader('x-queuectl-finished', String(out.finished));
    res.type('text/plain; charset=utf-8').send(out.text);
  }

  @Get(':id/output/stream')
  @ApiProduces('text/event-stream')
  @ApiOperation({ summary: "Follow a run's output (SSE): events run, output (a JSON string), then end" })
  async follow(@Param('id', JobIdPipe) id: string, @Query() query: FollowQuery, @Res() res: Response) {
    // An unknown job or run is refused before the stream starts, so the error envelope goes out.
    await this.output.checkRun(id, query.run);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
    const send = (event: OutputEvent) => {
      const { type, ...rest } = event;
      res.write(`event: ${type}\ndata: ${JSON.stringify(event.type === 'output' ? event.data : rest)}\n\n`);
    };
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    try {
      await this.output.follow(id, query.run, send, closed);
    } finally {
      clearInterval(keepalive);
      res.end();
    }
  }
}
