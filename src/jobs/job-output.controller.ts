import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
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
  @ApiProduces('application/octet-stream')
  @ApiOperation({
    summary:
      "A run's stdout and stderr, byte for byte. Headers: X-Queuectl-Run (absent before the first run), X-Queuectl-Offset and X-Queuectl-End (the byte range answered), X-Queuectl-Truncated, X-Queuectl-Finished",
  })
  async read(@Param('id', JobIdPipe) id: string, @Query() query: OutputQuery, @Res() res: Response) {
    const out = await this.output.read(id, query);
    if (out.run !== null) res.setHeader('x-queuectl-run', String(out.run));
    res.setHeader('x-queuectl-offset', String(out.offset));
    res.setHeader('x-queuectl-end', String(out.end));
    res.setHeader('x-queuectl-truncated', String(out.truncated));
    res.setHeader('x-queuectl-finished', String(out.finished));
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('content-length', String(out.end - out.offset + Buffer.byteLength(out.mark)));
    try {
      for await (const page of out.pages) if (!(await write(res, page))) return;
    } catch (e) {
      // The status line is out: the only way left to say the answer is incomplete is to cut it.
      res.destroy(e as Error);
      return;
    }
    res.end(out.mark);
  }

  @Get(':id/output/stream')
  @ApiProduces('text/event-stream')
  @ApiOperation({
    summary:
      'Follow a run\'s output (SSE): events run ({"run"}), output ({"offset","data_base64"}: bytes from a byte offset; the event id "<run>:<next offset>" resumes with Last-Event-ID), then end',
  })
  async follow(@Param('id', JobIdPipe) id: string, @Query() query: FollowQuery, @Headers('last-event-id') lastEventId: string | undefined, @Res() res: Response) {
    const resume = /^(\d+):(\d+)$/.exec(lastEventId ?? '');
    const run = resume ? Number(resume[1]) : query.run;
    const offset = resume ? Number(resume[2]) : (query.offset ?? 0);
    // An unknown job or run is refused before the stream starts, so the error envelope goes out.
    await this.output.checkFollow(id, run, offset);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
    const send = async (event: OutputEvent) => {
      if (event.type === 'output') {
        const { run: r, offset: at, data } = event;
        await write(res, `event: output\nid: ${r}:${at + data.length}\ndata: ${JSON.stringify({ offset: at, data_base64: data.toString('base64') })}\n\n`);
      } else {
        const { type, ...rest } = event;
        await write(res, `event: ${type}\ndata: ${JSON.stringify(rest)}\n\n`);
      }
    };
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    try {
      await this.output.follow(id, run, offset, send, closed);
    } finally {
      clearInterval(keepalive);
      res.end();
    }
  }
}

/** Writes and waits while the client's buffer is full; false once the client has gone. */
function write(res: Response, data: Buffer | string): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(data)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve(!res.destroyed);
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
