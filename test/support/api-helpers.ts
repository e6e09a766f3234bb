import request from 'supertest';
import { SqlDatabase } from '../../src/database/sql';
import { JobsRepository } from '../../src/jobs/jobs.repository';
import { ManualClock } from './manual-clock';
import { TestApp } from './test-app';

/** Helpers for supertest specs against the in-process app: job shapes, error envelopes, table snapshots. */

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const SEVEN_FIELDS = ['id', 'command', 'state', 'attempts', 'max_retries', 'created_at', 'updated_at'];

export function http(t: TestApp) {
  return request(t.app.getHttpServer());
}

/** Every JSON form of a job carries the seven fields of SPEC §1, with ISO-8601 UTC times. */
export function expectJobShape(job: Record<string, unknown>): void {
  for (const field of SEVEN_FIELDS) expect(job).toHaveProperty(field);
  expect(typeof job.id).toBe('string');
  expect(typeof job.command).toBe('string');
  expect(['pending', 'processing', 'completed', 'failed', 'dead']).toContain(job.state);
  expect(Number.isInteger(job.attempts)).toBe(true);
  expect(Number.isInteger(job.max_retries)).toBe(true);
  expect(job.created_at).toMatch(ISO_UTC);
  expect(job.updated_at).toMatch(ISO_UTC);
  for (const field of ['run_at', 'next_run_at', 'started_at', 'finished_at']) {
    if (job[field] !== null && job[field] !== undefined) expect(job[field]).toMatch(ISO_UTC);
  }
}

/** The error envelope `{"error":{code,message,details}}` with a one-line message and the given status. */
export function expectError(res: request.Response, status: number, code: string, message?: RegExp): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'details', 'message']);
  const text = res.body.error.message as string;
  expect(typeof text).toBe('string');
  expect(text.trim().length).toBeGreaterThan(0);
  expect(text).not.toMatch(/\n|\s+at \S+ \(|Error:/);
  if (message) expect(text).toMatch(message);
}

/** Everything a request could change; compared before and after a refused one. */
export async function snapshot(t: TestApp): Promise<Record<string, unknown[]>> {
  const db = t.app.get(SqlDatabase);
  return {
    jobs: await db.rows('SELECT * FROM jobs ORDER BY seq'),
    attempts: await db.rows('SELECT * FROM job_attempts ORDER BY job_id, run'),
    // What the counts say, per state: how they are spread over rows (PostgreSQL's shards, one
    // left at 0 by an insert undone in the same transaction) is not what a user sees.
    counts: await db.rows('SELECT state, SUM(n) AS n FROM job_counts GROUP BY state HAVING SUM(n) <> 0 ORDER BY state'),
    settings: await db.rows('SELECT * FROM settings ORDER BY key'),
  };
}

export async function enqueue(t: TestApp, body: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await http(t).post('/api/jobs').set(t.auth).send(body);
  if (res.status !== 201) throw new Error(`enqueue answered ${res.status}: ${res.text}`);
  return res.body;
}

/** Above any priority a test gives its own jobs, so `claimOne` takes exactly the job it is told. */
export const FIRST = 1_000_000;

/**
 * Claims the next job as a worker would, through the repository, and checks it is `id`: the
 * job must be the only due one at priority FIRST.
 */
export async function claimOne(t: TestApp, clock: ManualClock, id: string): Promise<{ lease: number }> {
  const repo = t.app.get(JobsRepository);
  const db = t.app.get(SqlDatabase);
  const now = clock.now();
  const [row] = await db.write((sql) => repo.claimNext(sql, 'test-worker', now, now + 30_000, 1));
  if (row?.id !== id) throw new Error(`expected to claim ${id}, claimed ${row?.id ?? 'nothing'}`);
  return { lease: Number(row.lease) };
}

export type DrivenState = 'processing' | 'completed' | 'failed' | 'dead';

/**
 * Enqueues a job and moves it to `state` through the same repository calls a worker report
 * makes: claim, then complete / schedule a retry (due in a year) / bury.
 */
export async function jobIn(t: TestApp, clock: ManualClock, state: DrivenState, body: Record<string, unknown>): Promise<Record<string, any>> {
  const job = await enqueue(t, { ...body, priority: FIRST });
  const { lease } = await claimOne(t, clock, job.id);
  const repo = t.app.get(JobsRepository);
  const db = t.app.get(SqlDatabase);
  const now = clock.now();
  await db.write(async (sql) => {
    const outcome = state === 'completed' ? { exitCode: 0, error: null } : { exitCode: 3, error: 'exit code 3' };
    if (state === 'completed') expect(await repo.completeRuns(sql, [{ id: job.id, lease }], now)).toEqual([job.id]);
    if (state === 'failed') expect(await repo.scheduleRetry(sql, job.id, lease, now, now + 365 * 86400_000, outcome)).toBe(true);
    if (state === 'dead') expect(await repo.bury(sql, job.id, lease, now, outcome)).toBe(true);
    if (state !== 'processing') await repo.finishAttempt(sql, job.id, lease, now, outcome);
  });
  const shown = await http(t).get(`/api/jobs/${job.id}`).set(t.auth);
  expect(shown.body.state).toBe(state);
  return shown.body;
}
