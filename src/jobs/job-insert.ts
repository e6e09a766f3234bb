import type { Dialect } from '../database/sql';
import type { JobRow } from './job-row';

/** The columns an enqueue sets from the row, with their PostgreSQL types (its parameters arrive as text). */
const COLUMNS = [
  ['id', 'varchar'],
  ['command', 'text'],
  ['max_retries', 'integer'],
  ['priority', 'integer'],
  ['run_at', 'bigint'],
  ['due_at', 'bigint'],
  ['timeout_seconds', 'integer'],
  ['backoff_base', 'double precision'],
  ['queue', 'varchar'],
  ['cwd', 'text'],
  ['env', 'text'],
] as const satisfies ReadonlyArray<readonly [keyof JobRow, string]>;

type Column = (typeof COLUMNS)[number][0];

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
 * The PostgreSQL statement takes no id twice and answers `id, seq` for the rows it stored.
 */
export function jobInsert(dialect: Dialect, rows: JobRow[], now: number): [string, unknown[]] {
  const first = rows[0];
  // The id always travels: rows share none, and the row source needs one value a row.
  const varying: Column[] = ['id'];
  for (const [column] of COLUMNS) {
    if (column === 'id') continue;
    const value = first[column];
    let same = true;
    for (let i = 1; i < rows.length && same; i++) same = rows[i][column] === value;
    if (!same) varying.push(column);
  }
  if (dialect === 'sqlite' && rows[rows.length - 1].seq !== first.seq + rows.length - 1) throw new Error('jobInsert: the rows must be numbered one after another');
  const flat = varying.length === 1;
  const params: unknown[] = [JSON.stringify(flat ? rows.map((r) => r.id) : rows.map((r) => varying.map((c) => r[c])))];
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
  const values = COLUMNS.map(([c, type]) => (varying.includes(c) ? at(varying.indexOf(c), type) : param(first[c], type))).join(', ');
  if (dialect === 'postgres') {
    const source = flat ? 'json_array_elements_text(?1::json)' : 'jsonb_array_elements(?1::jsonb)';
    return [
      `INSERT INTO jobs (${names}, state, created_at, updated_at)
       SELECT ${values}, 'pending', ${created}, ${created}
       FROM ${source} WITH ORDINALITY AS e (v, n) ORDER BY n
       ON CONFLICT (id) DO NOTHING RETURNING id, seq`,
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
