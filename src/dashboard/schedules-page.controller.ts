import { Get, Param, Post, Render, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Clock } from '../common/clock';
import { ScheduleNamePipe } from '../schedules/schedule-name.pipe';
import { SchedulesService } from '../schedules/schedules.service';
import { DashboardController } from './dashboard-controller.decorator';
import { DashboardSession } from './dashboard-sessions';
import { jobPath } from './job-views';
import { CurrentSession } from './session.guard';
import { formatAgo } from './view-format';

/** Schedules: their next runs and last job; pause, resume, run now, remove. */
@DashboardController()
export class SchedulesPageController {
  constructor(
    private readonly schedules: SchedulesService,
    private readonly clock: Clock,
  ) {}

  @Get('schedules')
  @Render('pages/schedules')
  async page() {
    return { title: 'Schedules', nav: 'schedules', ...(await this.table()) };
  }

  @Get('fragments/schedules')
  @Render('partials/schedules-table')
  async fragment() {
    return { layout: false, ...(await this.table()) };
  }

  @Post('schedules/:name/pause')
  async pause(@Param('name', ScheduleNamePipe) name: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    await this.schedules.pause(name);
    return this.done(session, res, `Paused ${name}: no tick is enqueued until it is resumed.`);
  }

  @Post('schedules/:name/resume')
  async resume(@Param('name', ScheduleNamePipe) name: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    const s = await this.schedules.resume(name);
    return this.done(session, res, `Resumed ${name}: next run ${s.next_run_at}.`);
  }

  @Post('schedules/:name/run')
  async run(@Param('name', ScheduleNamePipe) name: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    const job = await this.schedules.runNow(name);
    return this.done(session, res, `Enqueued ${job.id}.`);
  }

  @Post('schedules/:name/remove')
  async remove(@Param('name', ScheduleNamePipe) name: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    await this.schedules.remove(name);
    return this.done(session, res, `Removed ${name}; the jobs it enqueued stay.`);
  }

  private done(session: DashboardSession, res: Response, text: string): void {
    session.flash = { kind: 'ok', text };
    res.redirect(303, '/schedules');
  }

  private async table() {
    const now = this.clock.now();
    const list = await this.schedules.list();
    return {
      schedules: list.map((s) => {
        const path = `/schedules/${encodeURIComponent(s.name)}`;
        return {
          name: s.name,
          when: s.cron !== null ? `${s.cron} (${s.timezone ?? 'UTC'})` : `every ${s.every_seconds} s`,
          command: String(s.job.command ?? ''),
          paused: s.paused,
          catchUp: s.catch_up,
          nextRuns: s.next_runs.slice(0, 3).map((t) => ({ iso: t, ago: formatAgo(t, now) })),
          lastRun: s.last_run_at ? formatAgo(s.last_run_at, now) : null,
          lastJob: s.last_job_id ? { id: s.last_job_id, href: jobPath(s.last_job_id) } : null,
          pauseUrl: `${path}/pause`,
          resumeUrl: `${path}/resume`,
          runUrl: `${path}/run`,
          removeUrl: `${path}/remove`,
        };
      }),
    };
  }
}
