import { Injectable } from '@nestjs/common';
import { Sql, SqlDatabase } from '../database/sql';
import { ScheduleRow } from './schedule.entity';

const COLUMNS = `name, cron, timezone, every_seconds, catch_up, job, paused, next_run_at, last_run_at, last_job_id, created_at, updated_at`;

/**
 * Every statement about schedules. Advancing a schedule is a compare-and-set on the tick it
 * expects to be next: of several replicas (or passes) that find the same tick due, one changes
 * the row and enqueues; the others change nothing and enqueue nothing.
 */
@Injectable()
export class SchedulesRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** False when the name is taken. */
  async insert(sql: Sql, row: ScheduleRow): Promise<boolean> {
    const changed = await sql.run(
      `INSERT INTO schedules (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
      [row.name, row.cron, row.timezone, row.every_seconds, row.catch_up, row.job, row.paused, row.next_run_at, row.last_run_at, row.last_job_id, row.created_at, row.updated_at],
    );
    return changed === 1;
  }

  async find(name: string): Promise<ScheduleRow | undefined> {
    const [row] = await this.db.rows<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules WHERE name = ?`, [name]);
    return row;
  }

  async list(): Promise<ScheduleRow[]> {
    return this.db.rows<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules ORDER BY name`);
  }

  /** Active schedules whose next tick has come. */
  async due(now: number): Promise<ScheduleRow[]> {
    return this.db.rows<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules WHERE next_run_at <= ? AND paused = 0 ORDER BY next_run_at`, [now]);
  }

  /** The earliest next tick of an active schedule, if any. */
  async nextDue(): Promise<number | null> {
    const [row] = await this.db.rows<{ t: number | null }>(`SELECT MIN(next_run_at) AS t FROM schedules WHERE paused = 0`);
    return row?.t === null || row?.t === undefined ? null : Number(row.t);
  }

  /** Moves an active schedule from tick `expected` to `next`; false when another pass already did (or it was paused). */
  async advance(sql: Sql, name: string, expected: number, next: number, last: { at: number; jobId: string } | null, now: number): Promise<boolean> {
    const changed = await sql.run(
      `UPDATE schedules SET next_run_at = ?, last_run_at = COALESCE(?, last_run_at), last_job_id = COALESCE(?, last_job_id), updated_at = ?
       WHERE name = ? AND next_run_at = ? AND paused = 0`,
      [next, last?.at ?? null, last?.jobId ?? null, now, name, expected],
    );
    return changed === 1;
  }

  async pause(sql: Sql, name: string, now: number): Promise<boolean> {
    return (await sql.run(`UPDATE schedules SET paused = 1, updated_at = ? WHERE name = ?`, [now, name])) === 1;
  }

  /** Resumes a paused schedule from `next` (the ticks while it was paused are not caught up); false if it was not paused. */
  async resume(sql: Sql, name: string, next: number, now: number): Promise<boolean> {
    return (await sql.run(`UPDATE schedules SET paused = 0, next_run_at = ?, updated_at = ? WHERE name = ? AND paused = 1`, [next, now, name])) === 1;
  }

  async remove(sql: Sql, name: string): Promise<ScheduleRow | undefined> {
    const [row] = await sql.rows<ScheduleRow>(`DELETE FROM schedules WHERE name = ? RETURNING ${COLUMNS}`, [name]);
    return row;
  }
}
