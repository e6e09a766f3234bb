import { StatementRecorder } from '../../bench/scale-plans';
import type { Sql } from '../../src/database/sql';
import { SqlDatabase } from '../../src/database/sql';
import { JobsRepository } from '../../src/jobs/jobs.repository';

/**
 * The plans of the statements a repository call issues: the repository is handed the scale
 * benchmark's statement recorder (standing in for both the unit of work and the repository's own
 * database), and each recorded statement is explained with its parameters on `db`'s real schema.
 * One line a statement, its plan's lines joined by ` | `.
 */
export async function plansOf<R = JobsRepository>(
  db: SqlDatabase,
  call: (r: R, sql: Sql) => Promise<unknown>,
  repository: new (db: SqlDatabase) => R = JobsRepository as unknown as new (db: SqlDatabase) => R,
): Promise<string[]> {
  const recorder = new StatementRecorder(db.dialect);
  await call(new repository(recorder as unknown as SqlDatabase), recorder);
  const plans: string[] = [];
  for (const s of recorder.statements) {
    if (db.dialect === 'postgres') {
      const rows = await db.rows<{ 'QUERY PLAN': string }>(`EXPLAIN ${s.sql}`, s.params);
      plans.push(rows.map((r) => r['QUERY PLAN'].trim()).join(' | '));
    } else {
      const rows = await db.rows<{ detail: string }>(`EXPLAIN QUERY PLAN ${s.sql}`, s.params);
      plans.push(rows.map((r) => r.detail).join(' | '));
    }
  }
  return plans;
}
