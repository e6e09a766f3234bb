import { Body, Get, Param, Post, Render, Res } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidInput } from '../common/domain-errors';
import { QueueSettingsDto } from '../queues/dto/queue-settings.dto';
import { QueueNamePipe } from '../queues/queue-name.pipe';
import { QueuesService } from '../queues/queues.service';
import { DashboardController } from './dashboard-controller.decorator';
import { DashboardSession } from './dashboard-sessions';
import { asJson, formFields, validateAs } from './form-input';
import { withQuery } from './job-views';
import { CurrentSession } from './session.guard';

/** Named queues: counts per state, pause and resume, and each queue's concurrency limit. */
@DashboardController()
export class QueuesPageController {
  constructor(private readonly queues: QueuesService) {}

  @Get('queues')
  @Render('pages/queues')
  async page() {
    return { title: 'Queues', nav: 'queues', ...(await this.table()) };
  }

  @Get('fragments/queues')
  @Render('partials/queues-table')
  async fragment() {
    return { layout: false, ...(await this.table()) };
  }

  @Post('queues/:name/pause')
  async pause(@Param('name', QueueNamePipe) name: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    await this.queues.pause(name);
    session.flash = { kind: 'ok', text: `Paused queue ${name}: its running jobs finish, no new one starts.` };
    res.redirect(303, '/queues');
  }

  @Post('queues/:name/resume')
  async resume(@Param('name', QueueNamePipe) name: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    await this.queues.resume(name);
    session.flash = { kind: 'ok', text: `Resumed queue ${name}.` };
    res.redirect(303, '/queues');
  }

  /** The limit form: the same DTO and messages as PATCH /api/queues/:name; a bad value changes nothing. */
  @Post('queues/:name/limit')
  async limit(@Param('name', QueueNamePipe) name: string, @Body() body: unknown, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    const values = formFields(body);
    try {
      const input = await validateAs(QueueSettingsDto, asJson(values, ['concurrency'], ['concurrency']));
      const q = await this.queues.set(name, { concurrency: input.concurrency });
      session.flash = { kind: 'ok', text: q.concurrency === 0 ? `Queue ${name} has no limit.` : `Queue ${name}: at most ${q.concurrency} at once.` };
      res.redirect(303, '/queues');
    } catch (e) {
      if (!(e instanceof InvalidInput)) throw e;
      res.status(400).render('pages/queues', { title: 'Queues', nav: 'queues', error: `${name}: ${e.message}`, ...(await this.table()) });
    }
  }

  private async table() {
    const list = await this.queues.list();
    return {
      queues: list.map((q) => {
        const base = `/queues/${encodeURIComponent(q.name)}`;
        return {
          name: q.name,
          anchor: `queue-${q.name}`,
          jobsUrl: withQuery('/jobs', { queue: q.name }),
          counts: q.counts,
          paused: q.paused,
          concurrency: q.concurrency,
          limit: q.concurrency === 0 ? 'none' : String(q.concurrency),
          workers: q.workers,
          pauseUrl: `${base}/pause`,
          resumeUrl: `${base}/resume`,
          limitUrl: `${base}/limit`,
        };
      }),
    };
  }
}
