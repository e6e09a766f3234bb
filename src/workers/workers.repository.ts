import { Injectable } from '@nestjs/common';
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
}

/** Every statement about worker registrations. A worker is live while its heartbeat is fresh. */
@Injectable()
export class WorkersRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insert(sql: Sql, row: Omit<WorkerRow, 'stop_requested' | 'stopped_at'>): Promise<void> {
    await sql.run(`INSERT INTO workers (id, hostname, pid, concurrency, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)`, [
      row.id,
      row.hostname,
      row.pid,
      row.concurrency,
      row.started_at,
      row.heartbeat_at,
    ]);
  }

  async findLive(freshAfter: number): Promise<WorkerRow[]> {
    return this.db.rows<WorkerRow>(
      `SELECT id, hostname, pid, concurrency, started_at, heartbeat_at, stop_requested, stopped_at FROM workers
       WHERE stopped_at IS NULL AND heartbeat_at > ? ORDER BY started_at`,
      [freshAfter],
    );
  }

  async countLive(freshAfter: number): Promise<number> {
    const [row] = await this.db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM workers WHERE stopped_at IS NULL AND heartbeat_at > ?`, [
      freshAfter,
    ]);
    return Number(row?.n ?? 0);
  }
}
