import { Injectable } from '@nestjs/common';
import { Sql, SqlDatabase } from '../database/sql';
import { JobState } from './job-state';

/**
 * The due time of a job that waits on others (`run --after`): the far end of JavaScript time. It
 * stays `pending`, and the claim, which takes only `due_at <= now`, never reaches it; the claim's
 * statement and indexes need not know about dependencies at all. Releasing it sets its real due
 * time (its run_at, or now).
 */
export const BLOCKED_DUE_AT = 8_640_000_000_000_000;

/** What a job waits on: its `after` ids, and those of them not completed yet (while it is pending). */
export interface JobFlow {
  after: string[];
  waiting_on: string[];
}

/**
 * `job_dependencies`, and the changes a finished job makes to the jobs waiting on it. All run in
 * the transaction of the change that caused them (a report, a cancel, the reaper), so no job is
 * ever left waiting on one that already ended.
 *
 * PostgreSQL replicas change jobs at the same time, under READ COMMITTED. Two rules keep a
 * waiting job from being missed there: whoever adds or revives a waiting job locks the jobs it
 * waits on (FOR SHARE) before reading their states, so a report finishing one of them waits for
 * that transaction and then sees its rows; and a report that completes a job locks the waiting
 * jobs (FOR UPDATE) before checking their other dependencies, so of two reports completing a
 * job's last two dependencies at once, the second sees the first's. Each step is a statement of
 * its own, so it reads what committed before it.
 */
@Injectable()
export class JobDependenciesRepository {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * `state = 'pending' AND due_at …` for statements that find their jobs by id. SQLite has no
   * statistics, and given a state to match it walks jobs_state_seq, every pending job, rather
   * than the few ids (a report completing one job read the whole backlog: 222 ms at a million
   * pending). The unary `+` keeps these terms off any index, so the ids lead. (PostgreSQL
   * plans by its statistics.)
   */
  private pendingAnd(dueAt: string): string {
    const col = (name: string) => this.db.pick({ sqlite: `+${name}`, postgres: name });
    return `${col('state')} = 'pending' AND ${col('due_at')} ${dueAt}`;
  }

  /** `IN (…)` over a JSON array of ids bound as one parameter. */
  private idsIn(): string {
    return this.db.pick({ sqlite: 'IN (SELECT value FROM json_each(?))', postgres: 'IN (SELECT jsonb_array_elements_text(?::jsonb))' });
  }

  /** The states of these jobs (absent: no such job), locked against change until the transaction ends. */
  async lockStates(sql: Sql, ids: string[]): Promise<Map<string, JobState>> {
    if (ids.length === 0) return new Map();
    const rows = await sql.rows<{ id: string; state: JobState }>(
      `SELECT id, state FROM jobs WHERE id ${this.idsIn()} ${this.db.pick({ sqlite: '', postgres: 'ORDER BY id FOR SHARE' })}`,
      [JSON.stringify(ids)],
    );
    return new Map(rows.map((r) => [r.id, r.state]));
  }

  async insert(sql: Sql, edges: Array<[jobId: string, dependsOn: string]>): Promise<void> {
    if (edges.length === 0) return;
    await sql.run(
      this.db.pick({
        sqlite: 'INSERT INTO job_dependencies (job_id, depends_on) SELECT value ->> 0, value ->> 1 FROM json_each(?)',
        postgres: 'INSERT INTO job_dependencies (job_id, depends_on) SELECT v ->> 0, v ->> 1 FROM jsonb_array_elements(?::jsonb) AS e (v)',
      }),
      [JSON.stringify(edges)],
    );
  }

  /** The ids a job waits on. */
  async dependenciesOf(sql: Sql, id: string): Promise<string[]> {
    const rows = await sql.rows<{ depends_on: string }>('SELECT depends_on FROM job_dependencies WHERE job_id = ? ORDER BY depends_on', [id]);
    return rows.map((r) => r.depends_on);
  }

  /** The jobs waiting on this one (at most `limit`). */
  async dependentsOf(id: string, limit = 1000): Promise<string[]> {
    const rows = await this.db.rows<{ job_id: string }>('SELECT job_id FROM job_dependencies WHERE depends_on = ? ORDER BY job_id LIMIT ?', [id, limit]);
    return rows.map((r) => r.job_id);
  }

  /** `after` and `waiting_on` of each job given with its state; jobs without dependencies are left out. */
  async flowsOf(jobs: Array<{ id: string; state: JobState }>, sql?: Sql): Promise<Map<string, JobFlow>> {
    const flows = new Map<string, JobFlow>();
    if (jobs.length === 0) return flows;
    const rows = await (sql ?? this.db).rows<{ job_id: string; depends_on: string; state: JobState | null }>(
      `SELECT d.job_id, d.depends_on, p.state FROM job_dependencies d LEFT JOIN jobs p ON p.id = d.depends_on
       WHERE d.job_id ${this.idsIn()} ORDER BY d.job_id, d.depends_on`,
      [JSON.stringify(jobs.map((j) => j.id))],
    );
    const pending = new Set(jobs.filter((j) => j.state === 'pending').map((j) => j.id));
    for (const r of rows) {
      let flow = flows.get(r.job_id);
      if (!flow) flows.set(r.job_id, (flow = { after: [], waiting_on: [] }));
      flow.after.push(r.depends_on);
      // A dependency no longer there was purged after it finished: nothing to wait for.
      if (pending.has(r.job_id) && r.state !== null && r.state !== 'completed') flow.waiting_on.push(r.depends_on);
    }
    return flows;
  }

  /**
   * Makes the jobs waiting on `completedIds` due whose dependencies have now all completed (their
   * run_at, or now). Returns their ids.
   */
  async release(sql: Sql, completedIds: string[], now: number): Promise<string[]> {
    if (completedIds.length === 0) return [];
    const ids = JSON.stringify(completedIds);
    const waiting = `id IN (SELECT job_id FROM job_dependencies WHERE depends_on ${this.idsIn()}) AND ${this.pendingAnd(`= ${BLOCKED_DUE_AT}`)}`;
    if (this.db.dialect === 'postgres') {
      const locked = await sql.rows(`SELECT id FROM jobs WHERE ${waiting} ORDER BY id FOR UPDATE`, [ids]);
      if (locked.length === 0) return [];
    }
    const rows = await sql.rows<{ id: string }>(
      `UPDATE jobs SET due_at = COALESCE(run_at, ?), updated_at = ?
       WHERE ${waiting} AND NOT EXISTS (${this.unfinished('jobs.id')})
       RETURNING id`,
      [now, now, ids],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Ends dead every job waiting on `deadIds`, with reason `dependency failed: <id>`, and so on down
   * the chain. One level a statement, so each level sees the waiting jobs that committed before it
   * (see the class comment). Returns the jobs killed and their reasons.
   */
  async killDependents(sql: Sql, deadIds: string[], now: number): Promise<Array<{ id: string; last_error: string }>> {
    const killed: Array<{ id: string; last_error: string }> = [];
    for (let level = deadIds; level.length > 0; ) {
      const ids = JSON.stringify(level);
      const rows = await sql.rows<{ id: string; last_error: string }>(
        `UPDATE jobs SET state = 'dead', finished_at = ?, updated_at = ?,
           last_error = 'dependency failed: ' || (SELECT MIN(d.depends_on) FROM job_dependencies d WHERE d.job_id = jobs.id AND d.depends_on ${this.idsIn()})
         WHERE id IN (SELECT job_id FROM job_dependencies WHERE depends_on ${this.idsIn()}) AND ${this.pendingAnd(`= ${BLOCKED_DUE_AT}`)}
         RETURNING id, last_error`,
        [now, now, ids, ids],
      );
      level = rows.map((r) => r.id);
      killed.push(...rows);
    }
    return killed;
  }

  /**
   * Makes these pending jobs (or, with 'all', every pending job that has dependencies) wait again
   * when one of their dependencies is not completed: after a retry from the DLQ.
   */
  async reblock(sql: Sql, ids: string[] | 'all'): Promise<string[]> {
    if (ids !== 'all' && ids.length === 0) return [];
    const which = ids === 'all' ? 'id IN (SELECT job_id FROM job_dependencies)' : `id ${this.idsIn()}`;
    const rows = await sql.rows<{ id: string }>(
      `UPDATE jobs SET due_at = ${BLOCKED_DUE_AT}
       WHERE ${which} AND ${this.pendingAnd(`<> ${BLOCKED_DUE_AT}`)} AND EXISTS (${this.unfinished('jobs.id')})
       RETURNING id`,
      ids === 'all' ? [] : [JSON.stringify(ids)],
    );
    return rows.map((r) => r.id);
  }

  /** The dependencies of job `idExpr` that exist and have not completed. */
  private unfinished(idExpr: string): string {
    return `SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on WHERE d.job_id = ${idExpr} AND p.state <> 'completed'`;
  }
}
