import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull, MoreThan, Repository } from 'typeorm';
import { Sql, SqlDatabase } from '../database/sql';

export interface WorkerRow {
  id: string;
  hostname: string;
  pid: number;
  concurrency: number;
  started_at: number;
  heartbeat_at: number;
  stop_requested: number;
  stopped_at: number | null;
  /** The queues it serves, comma-separated; null for all. */
  queues: string | null;
}

/**
 * Every statement about worker registrations. A worker is live while its heartbeat is fresh.
 * Registration, heartbeats and stops are writes of the group commit (hand-written SQL, portable
 * as written); the reads for listings and the dashboard go through TypeORM's repository.
 */
@Injectable()
export class WorkersRepository {
  private readonly entities: Repository<WorkerRow>;

  constructor(
    private readonly db: SqlDatabase,
    @InjectDataSource() dataSource: DataSource,
  ) {
    this.entities = dataSource.getRepository<WorkerRow>('workers');
  }

  async insert(sql: Sql, row: Omit<WorkerRow, 'stop_requested' | 'stopped_at'>): Promise<void> {
    await sql.run(`INSERT INTO workers (id, hostname, pid, concurrency, started_at, heartbeat_at, queues) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
      row.id,
      row.hostname,
      row.pid,
      row.concurrency,
      row.started_at,
      row.heartbeat_at,
      row.queues,
    ]);
  }

  async findLive(freshAfter: number): Promise<WorkerRow[]> {
    return this.entities.find({ where: { stopped_at: IsNull(), heartbeat_at: MoreThan(freshAfter) }, order: { started_at: 'ASC' } });
  }

  /** One prepared statement: `GET /api/status` asks it at every poll of every client that polls. */
  async countLive(freshAfter: number): Promise<number> {
    const [row] = await this.db.rows<{ n: number | string }>('SELECT COUNT(*) AS n FROM workers WHERE stopped_at IS NULL AND heartbeat_at > ?', [freshAfter]);
    return Number(row.n);
  }

  async findById(id: string): Promise<WorkerRow | undefined> {
    return (await this.entities.findOneBy({ id })) ?? undefined;
  }

  /** Ids of registered workers that were asked to stop and have not said goodbye yet. */
  async findStopRequested(): Promise<string[]> {
    const rows = await this.db.rows<{ id: string }>('SELECT id FROM workers WHERE stop_requested = 1 AND stopped_at IS NULL');
    return rows.map((r) => r.id);
  }

  /** Records a heartbeat; undefined when the worker is unknown or has deregistered. */
  async heartbeat(sql: Sql, id: string, now: number): Promise<{ stop_requested: number } | undefined> {
    const [row] = await sql.rows<{ stop_requested: number }>(
      'UPDATE workers SET heartbeat_at = ? WHERE id = ? AND stopped_at IS NULL RETURNING stop_requested',
      [now, id],
    );
    return row;
  }

  /** Asks live workers (all, or one) to stop; returns the ids that were asked. */
  async requestStop(sql: Sql, freshAfter: number, id?: string): Promise<string[]> {
    const rows = await sql.rows<{ id: string }>(
      `UPDATE workers SET stop_requested = 1 WHERE stopped_at IS NULL AND heartbeat_at > ? ${id === undefined ? '' : 'AND id = ?'} RETURNING id`,
      id === undefined ? [freshAfter] : [freshAfter, id],
    );
    return rows.map((r) => r.id);
  }

  async markStopped(sql: Sql, id: string, now: number): Promise<boolean> {
    return (await sql.run('UPDATE workers SET stopped_at = ? WHERE id = ? AND stopped_at IS NULL', [now, id])) === 1;
  }
}
