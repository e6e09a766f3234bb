import { Body, Get, Param, Post, Query, Render, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Clock } from '../common/clock';
import { DuplicateJob, InvalidInput } from '../common/domain-errors';
import { STATUS_OF } from '../common/error-envelope.filter';
import { EnqueueJobDto } from '../jobs/dto/enqueue-job.dto';
import { ListJobsQuery } from '../jobs/dto/list-jobs.query';
import { JobIdPipe } from '../jobs/job-id.pipe';
import { JobOutputService } from '../jobs/job-output.service';
import { JobState } from '../jobs/job-state';
import { JobsService } from '../jobs/jobs.service';
import { DashboardController } from './dashboard-controller.decorator';
import { DashboardSession } from './dashboard-sessions';
import { asJson, formFields, validateAs } from './form-input';
import { OUTPUT_SHOWN, RunOutput, jobDetailView, jobPath, jobRowView, stateOptions, withQuery } from './job-views';
import { CurrentSession } from './session.guard';

const PAGE_SIZE = 50;
/** Output is read for the newest runs only: a job can have a thousand runs of a megabyte each. */
const RUNS_WITH_OUTPUT = 5;
const NUMERIC = ['priority', 'max_retries', 'timeout_seconds'];

/** The job table, one job's page, cancel, and the enqueue form. */
@DashboardController()
export class JobsPagesController {
  constructor(
    private readonly jobs: JobsService,
    private readonly output: JobOutputService,
    private readonly clock: Clock,
  ) {}

  @Get('jobs')
  @Render('pages/jobs')
  async list(@Query() query: ListJobsQuery) {
    return { title: 'Jobs', nav: 'jobs', states: stateOptions(query.state), q: query.q ?? '', ...(await this.table(query)) };
  }

  @Get('fragments/jobs')
  @Render('partials/jobs-table')
  async listFragment(@Query() query: ListJobsQuery) {
    return { layout: false, ...(await this.table(query)) };
  }

  @Get('enqueue')
  @Render('pages/enqueue')
  enqueueForm() {
    return { title: 'Enqueue', nav: 'enqueue', values: {} };
  }

  @Post('enqueue')
  async enqueue(@Body() body: unknown, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    const values = formFields(body);
    try {
      // Every field goes to validation, so a crafted form with an unknown field is refused as the API would.
      const input = await validateAs(EnqueueJobDto, asJson(values, NUMERIC, ['command']));
      const job = await this.jobs.enqueue(input);
      session.flash = { kind: 'ok', text: `Enqueued job ${job.id}.` };
      res.redirect(303, jobPath(job.id));
    } catch (e) {
      if (!(e instanceof InvalidInput) && !(e instanceof DuplicateJob)) throw e;
      res.status(STATUS_OF[e.code]).render('pages/enqueue', { title: 'Enqueue', nav: 'enqueue', values, error: e.message });
    }
  }

  @Get('jobs/:id')
  @Render('pages/job')
  async show(@Param('id', JobIdPipe) id: string) {
    const job = await this.detail(id);
    return { title: `Job ${id}`, nav: 'jobs', job, liveUrl: `/fragments${jobPath(id)}` };
  }

  @Get('fragments/jobs/:id')
  @Render('partials/job-body')
  async showFragment(@Param('id', JobIdPipe) id: string) {
    return { layout: false, job: await this.detail(id) };
  }

  @Post('jobs/:id/cancel')
  async cancel(@Param('id', JobIdPipe) id: string, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    const job = await this.jobs.cancel(id);
    session.flash = { kind: 'ok', text: job.state === 'dead' ? `Job ${id} cancelled.` : `Job ${id} is being stopped.` };
    res.redirect(303, jobPath(id));
  }

  private async table(query: ListJobsQuery) {
    const now = this.clock.now();
    const filter = { state: query.state, q: query.q, queue: query.queue };
    const page = await this.jobs.list({ state: query.state as JobState | undefined, search: query.q, limit: PAGE_SIZE, cursor: query.cursor, queue: query.queue });
    return {
      jobs: page.jobs.map((j) => jobRowView(j, now)),
      filtered: Boolean(query.state || query.q || query.queue),
      olderUrl: page.next_cursor === null ? null : withQuery('/jobs', { ...filter, cursor: page.next_cursor }),
      newestUrl: query.cursor ? withQuery('/jobs', filter) : null,
      liveUrl: withQuery('/fragments/jobs', { ...filter, cursor: query.cursor }),
    };
  }

  private async detail(id: string) {
    const job = await this.jobs.show(id);
    const outputs = new Map<number, RunOutput>();
    for (const r of job.runs.slice(-RUNS_WITH_OUTPUT)) outputs.set(r.run, await this.output.lastBytes(id, r.run, OUTPUT_SHOWN));
    return jobDetailView(job, outputs, this.clock.now());
  }
}
