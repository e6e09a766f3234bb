import type { Dialect } from '../database/sql';
import type { JobRow } from './job-row';
import { sqlStates } from './job-state';

/**
 * The columns an enqueue sets from the row, with their PostgreSQL types (its parameters arrive as
 * text) and how each is read: a function of its own per column keeps each read a plain property
 * load, where `row[column]` over 10,000 rows cost twice as much on a fresh process.
 */
const COLUMNS = [
  ['id', 'varchar', (r) => r.id],
  ['command', 'text', (r) => r.command],
  ['max_retries', 'integer', (r) => r.max_retries],
  ['priority', 'integer', (r) => r.priority],
  ['run_at', 'bigint', (r) => r.run_at],
  ['due_at', 'bigint', (r) => r.due_at],
  ['timeout_seconds', 'integer', (r) => r.timeout_seconds],
  ['backoff_base', 'double precision', (r) => r.backoff_base],
  ['queue', 'varchar', (r) => r.queue],
  ['cwd', 'text', (r) => r.cwd],
  ['env', 'text', (r) => r.env],
] as const satisfies ReadonlyArray<readonly [keyof JobRow, string, (r: JobRow) => unknown]>;

type Column = (typeof COLUMNS)[number];

/**
 * The INSERT of new job rows, as one statement whatever their number: the values that differ
 * from row to row travel as one JSON text the database unpacks, and a value every row shares is
 * bound once. SQLite reads each row's values out of that text again for every `->>`, which cost
 * half of a 10,000-job INSERT when all eleven columns went in it; a batch of new jobs usually
 * differs in its ids (and commands) alone. With one column left, the rows are a flat array and
 * no `->>` is needed at all.
 *
 * SQLite's `seq` is the first row's plus the row's position: the rows must be numbered one after
 * another, as `admit` numbers them. PostgreSQL's is its identity, assigned in the rows' order.
 * The PostgreSQL statement answers `id, seq` for the rows it stored; it skips the rows whose id is
 * taken unless `skipTaken` is false (then a taken id fails it). With `maxRetries` (PostgreSQL), a
 * row whose max_retries is null takes its queue's as the statement reads it, else that number,
 * and the statement answers `max_retries` too.
 *
 * With `claimedBy` (PostgreSQL), the rows go in claimed by that worker, as its claim would have
 * left them (first attempt, a fencing value from `run_numbers`, the lease), and only while
 * nothing else could be claimed before them: they are due, no other job is (`jobs_due`), and
 * their queue has no row that pauses or limits it; otherwise nothing is stored. The statement
 * also answers each row's `lease`, `worker_id` and `started_at` (its attempt's row is written
 * from them) and its queue's `job_timeout`.
 */
export function jobInsert(
  dialect: Dialect,
  rows: JobRow[],
  now: number,
  skipTaken = true,
  maxRetries?: number,
  claimedBy?: { workerId: string; leaseUntil: number },
): [string, unknown[]] {
  const first = rows[0];
  // The id always travels: rows share none, and the row source needs one value a row.
  const varying: Column[] = [COLUMNS[0]];
  for (const column of COLUMNS.slice(1)) {
    const read = column[2];
    const value = read(first);
    let same = true;
    for (let i = 1; i < rows.length && same; i++) same = read(rows[i]) === value;
    if (!same) varying.push(column);
  }
  if (dialect === 'sqlite' && rows[rows.length - 1].seq !== first.seq + rows.length - 1) throw new Error('jobInsert: the rows must be numbered one after another');
  const flat = varying.length === 1;
  const params: unknown[] = [JSON.stringify(flat ? rows.map((r) => r.id) : rows.map((r) => varying.map(([, , read]) => read(r))))];
  const param = (value: unknown, type: string) => {
    params.push(value);
    return dialect === 'postgres' ? `?${params.length}::${type}` : `?${params.length}`;
  };
  const at = (i: number, type: string) => {
    if (flat) return dialect === 'postgres' ? 'v' : 'value';
    return dialect === 'postgres' ? `(v ->> ${i})::${type}` : `value ->> ${i}`;
  };
  const created = param(now, 'bigint');
  const names = COLUMNS.map(([c]) => c).join(', ');
  const expressions = COLUMNS.map((column) => {
    const [, type, read] = column;
    return varying.includes(column) ? at(varying.indexOf(column), type) : param(read(first), type);
  });
  const of = (name: Column[0]) => expressions[COLUMNS.findIndex(([c]) => c === name)];
  if (maxRetries !== undefined) {
    const i = COLUMNS.findIndex(([c]) => c === 'max_retries');
    expressions[i] = `COALESCE(${expressions[i]}, (SELECT q.max_retries FROM queues q WHERE q.name = ${of('queue')}), ${param(maxRetries, 'integer')})`;
  }
  const values = expressions.join(', ');
  if (dialect === 'postgres') {
    const source = flat ? 'json_array_elements_text(?1::json)' : 'jsonb_array_elements(?1::jsonb)';
    // As its claim would leave a job (claimedBy), else pending.
    const claim = { columns: '', values: '', onlyIf: '', answers: '' };
    if (claimedBy !== undefined) {
      claim.columns = ', attempts, lease, worker_id, lease_expires_at, started_at';
      claim.values = `, 1, nextval('run_numbers'), ${param(claimedBy.workerId, 'varchar')}, ${param(claimedBy.leaseUntil, 'bigint')}, ${created}`;
      claim.onlyIf = `WHERE ${of('due_at')} <= ${created}
         AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = ${of('queue')} AND (q.paused <> 0 OR q.concurrency > 0))
         AND NOT EXISTS (SELECT 1 FROM jobs d WHERE d.state IN (${sqlStates('claim')}) AND d.due_at <= ${created})`;
      claim.answers = ', lease, worker_id, started_at, (SELECT q.job_timeout FROM queues q WHERE q.name = jobs.queue) AS queue_timeout';
    }
    return [
      `INSERT INTO jobs (${names}, state, created_at, updated_at${claim.columns})
       SELECT ${values}, ${claimedBy === undefined ? "'pending'" : "'processing'"}, ${created}, ${created}${claim.values}
       FROM ${source} WITH ORDINALITY AS e (v, n) ${claim.onlyIf} ORDER BY n
       ${skipTaken ? 'ON CONFLICT (id) DO NOTHING' : ''} RETURNING id, seq${maxRetries === undefined ? '' : ', max_retries'}${claim.answers}`,
      params,
    ];
  }
  const seq = `${param(first.seq, 'bigint')} + key`;
  return [
    `INSERT INTO jobs (${names}, seq, state, created_at, updated_at)
     SELECT ${values}, ${seq}, 'pending', ${created}, ${created}
     FROM json_each(?1)`,
    params,
  ];
}

/**
 * PostgreSQL: the plain INSERT of `rows` (a taken id fails it), answering one row instead of one a
 * job: how many went in, the first `seq`, and every `seq` spelled out only when they have gaps
 * (another replica's insert took numbers in between). Parsing 10,000 answered rows cost the
 * event loop more than building the INSERT.
 */
export function jobInsertCounted(rows: JobRow[], now: number): [string, unknown[]] {
  const [insert, params] = jobInsert('postgres', rows, now, false);
  return [
    `WITH stored AS (${insert})
     SELECT count(*) AS n, min(seq) AS first,
       CASE WHEN max(seq) - min(seq) + 1 = count(*) THEN NULL ELSE string_agg(seq::text, ',' ORDER BY seq) END AS gaps
     FROM stored`,
    params,
  ];
}
