import { Body, Get, Param, Post, Render, Res } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidInput } from '../common/domain-errors';
import { StartWorkersDto } from '../workers/dto/worker-protocol.dto';
import { WorkerSupervisor } from '../workers/worker-supervisor';
import { WorkerIdPipe } from '../workers/worker-id.pipe';
import { WorkersService } from '../workers/workers.service';
import { DashboardController } from './dashboard-controller.decorator';
import { DashboardSession } from './dashboard-sessions';
import { asJson, formFields, validateAs } from './form-input';
import { jobPath } from './job-views';
import { CurrentSession } from './session.guard';
import { formatDuration } from './view-format';

/** Live workers; start more inside the service, stop one or all (after their running jobs). */
@DashboardController()
export class WorkersPageController {
  constructor(
    private readonly workers: WorkersService,
    private readonly supervisor: WorkerSupervisor,
  ) {}

  @Get('workers')
  @Render('pages/workers')
  async page() {
    return { title: 'Workers', nav: 'workers', count: '1', ...(await this.table()) };
  }

  @Get('fragments/workers')
  @Render('partials/workers-table')
  async fragment() {
    return { layout: false, ...(await this.table()) };
  }

  @Post('workers/start')
  async start(@Body() body: unknown, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    const values = formFields(body);
    try {
      const input = await validateAs(StartWorkersDto, asJson(values, ['count'], ['count']));
      const { started } = await this.supervisor.start(input.count);
      session.flash = { kind: 'ok', text: started === 1 ? 'Started 1 worker.' : `Started ${started} workers.` };
      res.redirect(303, '/workers');
    } catch (e) {
      if (!(e instanceof InvalidInput)) throw e;
      res.status(400).render('pages/workers', { title: 'Workers', nav: 'workers', count: values.count ?? '', error: e.message, ...(await this.table()) });
    }
  }

  @Post('workers/stop-all')
  async stopAll(@CurrentSession() session: DashboardSession, @Res() res: Response) {
    const { stopping } = await this.workers.requestStop();
    session.flash = { kind: 'ok', text: stopping === 0 ? 'No worker was running.' : `Asked ${stopping} ${stopping === 1 ? 'worker' : 'workers'} to stop after their running jobs.` };
    res.redirect(303, '/workers');
  }

  @Post('workers/:id/stop')
  async stopOne(@Param('id', WorkerIdPipe) id: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    await this.workers.requestStop(id);
    session.flash = { kind: 'ok', text: `Asked worker ${id} to stop after its running jobs.` };
    res.redirect(303, '/workers');
  }

  private async table() {
    const list = await this.workers.list();
    return {
      workers: list.map((w) => ({
        id: w.id,
        stopUrl: `/workers/${encodeURIComponent(w.id)}/stop`,
        where: `${w.hostname} · pid ${w.pid}`,
        concurrency: w.concurrency,
        heartbeat: formatDuration(w.heartbeat_age_ms),
        late: w.heartbeat_age_ms > 15_000,
        stopping: w.stopping,
        jobs: w.jobs.map((j) => ({ id: j.id, href: jobPath(j.id), command: j.command })),
      })),
      supervised: this.supervisor.running(),
    };
  }
}
