import { Injectable } from '@nestjs/common';
import { Sql } from '../database/sql';

/**
 * The answers given to worker reports, by report id. A worker sends a report again when it got
 * no answer (a timeout, a dropped connection); the first may have been processed and have claimed
 * the next jobs. Answering the stored answer hands those same claims over instead of claiming
 * again (and leaving the first claims to be reaped as "worker lost") or refusing the results as
 * stale.
 */
@Injectable()
export class ReportAnswersRepository {
  /** By report id alone: a worker that registered again meanwhile sends its report under a new worker id. */
  async find<T>(sql: Sql, reportId: string): Promise<T | undefined> {
    const [row] = await sql.rows<{ answer: string }>('SELECT answer FROM report_answers WHERE report_id = ?', [reportId]);
    return row ? (JSON.parse(row.answer) as T) : undefined;
  }

  /** Keeps the answer; false, keeping nothing, when this report id has one already. */
  async save(sql: Sql, reportId: string, workerId: string, answer: unknown, now: number): Promise<boolean> {
    const kept = await sql.run(
      'INSERT INTO report_answers (report_id, worker_id, answer, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (report_id) DO NOTHING',
      [reportId, workerId, JSON.stringify(answer), now],
    );
    return kept > 0;
  }

  /** Forgets answers given before `before`, oldest first, at most `limit` of them. */
  async prune(sql: Sql, before: number, limit: number): Promise<number> {
    return sql.run('DELETE FROM report_answers WHERE report_id IN (SELECT report_id FROM report_answers WHERE created_at < ? ORDER BY created_at LIMIT ?)', [
      before,
      limit,
    ]);
  }
}
