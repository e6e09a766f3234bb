import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Clock, toIso } from '../common/clock';
import { DomainError, DuplicateJob, DuplicateSchedule, InvalidInput, ScheduleNotFound } from '../common/domain-errors';
import { Notifications } from '../database/notifications';
import { Sql, SqlDatabase } from '../database/sql';
import { EnqueueJobDto } from '../jobs/dto/enqueue-job.dto';
import { JobResponse } from '../jobs/job.mapper';
import { JobSignals } from '../jobs/job-signals';
import { JobsService, newJobId } from '../jobs/jobs.service';
import { CreateScheduleDto } from './dto/create-schedule.dto';
import { ScheduleRow } from './schedule.entity';
import { SchedulesRepository } from './schedules.repository';
import { CatchUp, Timetable, planTicks } from './timetable';

/** The JSON form of a schedule (API, `--json`). */
export interface ScheduleResponse {
  name: string;
  cron: string | null;
  timezone: string | null;
  every_seconds: number | null;
  catch_up: CatchUp;
  paused: boolean;
  /** The job each tick enqueues (a POST /api/jobs body without id and run_at). */
  job: Record<string, unknown>;
  /** The next tick; null while paused. */
  next_run_at: string | null;
  /** The next five ticks; empty while paused. */
  next_runs: string[];
  last_run_at: string | null;
  last_job_id: string | null;
  created_at: string;
  updated_at: string;
}

const NEXT_RUNS_SHOWN = 5;

/** A tick's job id: the schedule's name and the tick in epoch milliseconds, so a tick can be enqueued once only. */
export function tickJobId(name: string, tick: number): string {
  return `${name}:${tick}`;
}

/** Recurring jobs: add, inspect, pause, resume, remove, run now; and the ticks themselves (`tickDue`). */
@Injectable()
export class SchedulesService {
  private readonly logger = new Logger('schedules');
  private readonly changes = new EventEmitter();

  constructor(
    private readonly db: SqlDatabase,
    private readonly schedules: SchedulesRepository,
    private readonly jobs: JobsService,
    private readonly signals: JobSignals,
    private readonly replicas: Notifications,
    private readonly clock: Clock,
  ) {
    replicas.subscribe('schedules', () => this.changes.emit('change'));
  }

  /** Called when a schedule is added, resumed, paused or removed here or (PostgreSQL) on another replica. */
  onChange(listener: () => void): () => void {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  async add(input: CreateScheduleDto): Promise<ScheduleResponse> {
    const now = this.clock.now();
    if ((input.cron === undefined) === (input.every_seconds === undefined)) throw new InvalidInput('give either cron or every_seconds (not both)');
    if (input.timezone !== undefined && input.cron === undefined) throw new InvalidInput('timezone goes with cron: an interval has no time zone');
    const table = Timetable.of(input.cron !== undefined ? { cron: input.cron, timezone: input.timezone ?? 'UTC' } : { everySeconds: input.every_seconds! }, now);
    for (const field of ['id', 'run_at'] as const) {
      if (input.job[field] !== undefined) throw new InvalidInput(`job.${field} cannot be given: each tick's job gets its ${field === 'id' ? 'id from the schedule name and the tick' : 'time from the tick'}`);
    }
    // The same checks and defaults as an enqueue, so a template that passes here enqueues at every tick.
    await this.jobs.newJobs([input.job]);
    const row: ScheduleRow = {
      name: input.name,
      cron: input.cron ?? null,
      timezone: input.cron !== undefined ? (input.timezone ?? 'UTC') : null,
      every_seconds: input.every_seconds ?? null,
      catch_up: input.catch_up ?? 'one',
      job: JSON.stringify(input.job),
      paused: 0,
      next_run_at: table.next(now),
      last_run_at: null,
      last_job_id: null,
      created_at: now,
      updated_at: now,
    };
    if (!(await this.changing((sql) => this.schedules.insert(sql, row)))) throw new DuplicateSchedule(input.name);
    return this.toResponse(row, now);
  }

  async list(): Promise<ScheduleResponse[]> {
    const now = this.clock.now();
    return (await this.schedules.list()).map((row) => this.toResponse(row, now));
  }

  async show(name: string): Promise<ScheduleResponse> {
    return this.toResponse(await this.found(name), this.clock.now());
  }

  async pause(name: string): Promise<ScheduleResponse> {
    const now = this.clock.now();
    if (!(await this.changing((sql) => this.schedules.pause(sql, name, now)))) throw new ScheduleNotFound(name);
    return this.show(name);
  }

  /** Ticks that fell while it was paused are not caught up: it goes on from the next one. */
  async resume(name: string): Promise<ScheduleResponse> {
    const row = await this.found(name);
    const now = this.clock.now();
    if (row.paused) await this.changing((sql) => this.schedules.resume(sql, name, timetableOf(row, now).next(now), now));
    return this.show(name);
  }

  /** Jobs it already enqueued stay. */
  async remove(name: string): Promise<ScheduleResponse> {
    const row = await this.changing((sql) => this.schedules.remove(sql, name));
    if (!row) throw new ScheduleNotFound(name);
    return this.toResponse(row, this.clock.now());
  }

  /** One run now, outside the timetable (paused or not): id `<name>:run-<generated>`, so it never takes a tick's id. */
  async runNow(name: string): Promise<JobResponse> {
    const row = await this.found(name);
    const now = this.clock.now();
    const [job] = await this.jobs.newJobs([{ ...this.template(row), id: `${name}:run-${newJobId(now)}` }]);
    const [rows] = await this.db.write(async (sql) => {
      const outcomes = await this.jobs.insertGroups(sql, [[job]], now);
      if (!(outcomes[0] instanceof DomainError)) this.signals.workAvailable(sql);
      return outcomes;
    });
    if (rows instanceof DomainError) throw rows;
    const [answer] = await this.jobs.answerInserted([job], rows);
    return answer;
  }

  /** The earliest tick of an active schedule, for the ticker's sleep. */
  nextDue(): Promise<number | null> {
    return this.schedules.nextDue();
  }

  /**
   * Enqueues the due ticks of every schedule; returns how many jobs it enqueued. Safe to run on
   * every replica at once and as often as wanted: each schedule's tick is taken by a
   * compare-and-set in the same transaction as its jobs' insert, and a tick's job id is derived
   * from it, so a tick is enqueued once whoever runs the pass.
   */
  async tickDue(): Promise<number> {
    const now = this.clock.now();
    let enqueued = 0;
    for (const row of await this.schedules.due(now)) {
      try {
        enqueued += await this.tick(row, now);
      } catch (e) {
        // One broken schedule must not hold up the others; it is tried again next pass.
        this.logger.warn(`schedule ${row.name}: tick failed: ${(e as Error).message}`);
      }
    }
    return enqueued;
  }

  private async tick(row: ScheduleRow, now: number): Promise<number> {
    const plan = planTicks(timetableOf(row, now), Number(row.next_run_at), now, row.catch_up as CatchUp);
    const template = this.template(row);
    const jobs = await this.jobs.newJobs(plan.ticks.map((t) => ({ ...template, id: tickJobId(row.name, t) })));
    const last = plan.ticks.length > 0 ? { at: plan.ticks[plan.ticks.length - 1], jobId: jobs[jobs.length - 1].id } : null;
    const enqueued = await this.db.write(async (sql) => {
      if (!(await this.schedules.advance(sql, row.name, Number(row.next_run_at), plan.next, last, now))) return 0;
      if (jobs.length === 0) return 0;
      // One group a tick: a tick whose job id is taken already (enqueued before) is left out alone.
      const outcomes = await this.jobs.insertGroups(sql, jobs.map((j) => [j]), now);
      const inserted = outcomes.filter((o) => !(o instanceof DuplicateJob)).length;
      if (inserted > 0) this.signals.workAvailable(sql);
      return inserted;
    });
    if (plan.skipped > 0) this.logger.log(`schedule ${row.name}: ${plan.skipped} missed tick(s) not enqueued (catch-up ${row.catch_up})`);
    return enqueued;
  }

  private async found(name: string): Promise<ScheduleRow> {
    const row = await this.schedules.find(name);
    if (!row) throw new ScheduleNotFound(name);
    return row;
  }

  private template(row: ScheduleRow): EnqueueJobDto {
    return JSON.parse(row.job) as EnqueueJobDto;
  }

  /**
   * Runs `change` in a unit of work that, when it changed a schedule (a truthy result), says so:
   * the ticker here and on every replica looks at the timetable again.
   */
  private changing<T>(change: (sql: Sql) => Promise<T>): Promise<T> {
    return this.db.write(async (sql) => {
      const result = await change(sql);
      if (result) sql.announce('schedules', '', () => this.changes.emit('change'));
      return result;
    });
  }

  private toResponse(row: ScheduleRow, now: number): ScheduleResponse {
    const paused = Boolean(Number(row.paused));
    const next = Number(row.next_run_at);
    const nextRuns = paused ? [] : [next, ...timetableOf(row, now).nextTicks(next, NEXT_RUNS_SHOWN - 1)];
    return {
      name: row.name,
      cron: row.cron,
      timezone: row.timezone,
      every_seconds: row.every_seconds === null ? null : Number(row.every_seconds),
      catch_up: row.catch_up as CatchUp,
      paused,
      job: JSON.parse(row.job) as Record<string, unknown>,
      next_run_at: paused ? null : toIso(next),
      next_runs: nextRuns.map((t) => toIso(t)!),
      last_run_at: toIso(row.last_run_at),
      last_job_id: row.last_job_id,
      created_at: toIso(row.created_at)!,
      updated_at: toIso(row.updated_at)!,
    };
  }
}

function timetableOf(row: ScheduleRow, now: number): Timetable {
  return Timetable.of(row.cron !== null ? { cron: row.cron, timezone: row.timezone } : { everySeconds: Number(row.every_seconds) }, now);
}
