import { JobRow } from './job-row';
import { jobListJson, toJobResponse } from './job.mapper';

/** What jobListJson must always answer: the answers of the rows, serialized. */
const serialized = (rows: JobRow[]) => JSON.stringify({ jobs: rows.map((r) => toJobResponse(r)) });

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0, 123);

/** Every field of a row: a field added to JobRow must be added here, and is then changed below. */
const BASE: JobRow = {
  id: 'a',
  seq: 1,
  command: 'true',
  state: 'pending',
  attempts: 0,
  max_retries: 3,
  priority: 0,
  run_at: null,
  due_at: NOW,
  timeout_seconds: null,
  backoff_base: null,
  last_error: null,
  exit_code: null,
  worker_id: null,
  lease: 0,
  lease_expires_at: null,
  cancel_requested: 0,
  created_at: NOW,
  updated_at: NOW,
  started_at: null,
  finished_at: null,
  queue: 'default',
  cwd: null,
  env: null,
};

/** A value of each field unlike BASE's, of the kind the column holds. */
const OTHER: { [K in keyof JobRow]: JobRow[K] } = {
  id: 'b',
  seq: 2,
  command: 'false',
  state: 'failed',
  attempts: 1,
  max_retries: 0,
  priority: 5,
  run_at: NOW + 1000,
  due_at: NOW + 2000,
  timeout_seconds: 30,
  backoff_base: 1.5,
  last_error: 'exit 1',
  exit_code: 1,
  worker_id: 'w-1',
  lease: 7,
  lease_expires_at: NOW + 3000,
  cancel_requested: 1,
  created_at: NOW - 1,
  updated_at: NOW + 4000,
  started_at: NOW + 5000,
  finished_at: NOW + 6000,
  queue: 'emails',
  cwd: '/srv/app',
  env: '{"A":"1"}',
};

describe('jobListJson', () => {
  it('is the serialized answers of a batch that differs in ids and commands alone', () => {
    const odd = 'printf "%s\\n" \'q\' "\\\\" ünïcödé 🚀 \t\r\n \u2028 </script>';
    const rows = ['true', odd, 'echo "x"', ''].map((command, i) => ({ ...BASE, id: `job-${i}:x.y`, seq: i + 1, command }));
    expect(jobListJson(rows)).toBe(serialized(rows));
  });

  it.each(Object.keys(BASE) as Array<keyof JobRow>)('is the serialized answers when the rows differ in %s', (field) => {
    const rows = [
      { ...BASE, id: 'a' },
      { ...BASE, id: 'b', [field]: OTHER[field] },
      { ...BASE, id: 'c' },
    ];
    expect(jobListJson(rows)).toBe(serialized(rows));
  });

  it('is the serialized answers of one row, and of none', () => {
    expect(jobListJson([BASE])).toBe(serialized([BASE]));
    expect(jobListJson([])).toBe('{"jobs":[]}');
  });
});
