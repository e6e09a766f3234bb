import { Get, Param, Post, Query, Render, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Clock } from '../common/clock';
import { ListJobsQuery } from '../jobs/dto/list-jobs.query';
import { JobIdPipe } from '../jobs/job-id.pipe';
import { JobsService } from '../jobs/jobs.service';
import { DashboardController } from './dashboard-controller.decorator';
import { DashboardSession } from './dashboard-sessions';
import { jobPath, jobRowView, withQuery } from './job-views';
import { CurrentSession } from './session.guard';
import { formatAgo } from './view-format';

const PAGE_SIZE = 50;

/** The dead letter queue: look, retry one, retry all. */
@DashboardController()
export class DlqPageController {
  constructor(
    private readonly jobs: JobsService,
    private readonly clock: Clock,
  ) {}

  @Get('dlq')
  @Render('pages/dlq')
  async page(@Query() query: ListJobsQuery) {
    return { title: 'Dead letter queue', nav: 'dlq', q: query.q ?? '', ...(await this.table(query)) };
  }

  @Get('fragments/dlq')
  @Render('partials/dlq-table')
  async fragment(@Query() query: ListJobsQuery) {
    return { layout: false, ...(await this.table(query)) };
  }

  @Post('dlq/retry-all')
  async retryAll(@CurrentSession() session: DashboardSession, @Res() res: Response) {
    const { retried } = await this.jobs.retryAllDead();
    session.flash = { kind: 'ok', text: retried === 1 ? 'Retried 1 dead job.' : `Retried ${retried} dead jobs.` };
    res.redirect(303, '/dlq');
  }

  @Post('dlq/:id/retry')
  async retry(@Param('id', JobIdPipe) id: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    await this.jobs.retryDead(id);
    session.flash = { kind: 'ok', text: `Job ${id} is pending again, with attempts reset to 0.` };
    res.redirect(303, '/dlq');
  }

  private async table(query: ListJobsQuery) {
    const now = this.clock.now();
    const [page, counts] = await Promise.all([
      this.jobs.list({ state: 'dead', search: query.q, limit: PAGE_SIZE, cursor: query.cursor }),
      this.jobs.counts(),
    ]);
    return {
      dead: counts.dead,
      jobs: page.jobs.map((j) => ({ ...jobRowView(j, now), finished: formatAgo(j.finished_at, now), retryUrl: `/dlq/${encodeURIComponent(j.id)}/retry`, href: jobPath(j.id) })),
      olderUrl: page.next_cursor === null ? null : withQuery('/dlq', { q: query.q, cursor: page.next_cursor }),
      newestUrl: query.cursor ? withQuery('/dlq', { q: query.q }) : null,
      liveUrl: withQuery('/fragments/dlq', { q: query.q, cursor: query.cursor }),
    };
  }
}
