import { hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as sqlite3 from 'sqlite3';
import request from 'supertest';
import { SqlDatabase } from '../src/database/sql';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { TEST_DIALECT, databaseUrlOf, sqlHexOf } from './support/database';
import { FIRST, ISO_UTC, SEVEN_FIELDS, claimOne, enqueue, expectError, expectJobShape, http, jobIn } from './support/api-helpers';
import { removeHome, tempHome, waitFor } from './support/harness';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

/** Every endpoint of SPEC §4 doing what it says, through the real AppModule on a temp SQLite file. */

const SECOND = 1000;

/** Opens a SQLite file read-only with the driver itself, not through the service. */
function querySqliteFile<T>(file: string, sql: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      db.all(sql, [], (e, rows) => db.close(() => (e ? reject(e) : resolve(rows as T[]))));
    });
  });
}

describe('REST API', () => {
  let t: TestApp;
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });
  afterEach(async () => {
    await t?.close();
  });

  describe('POST /api/jobs', () => {
    it('enqueues with the seven fields, times in ISO-8601 UTC from the clock, and a generated id', async () => {
      const res = await http(t).post('/api/jobs').set(t.auth).send({ command: 'echo hi' });
      expect(res.status).toBe(201);
      expectJobShape(res.body);
      const at = new Date(clock.now()).toISOString();
      expect(res.body).toMatchObject({ command: 'echo hi', state: 'pending', attempts: 0, max_retries: 3, priority: 0, created_at: at, updated_at: at });
      expect(res.body.id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);

      const shown = await http(t).get(`/api/jobs/${res.body.id}`).set(t.auth);
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ ...res.body, runs: [] });
    });

    it('accepts the seven-field form and every optional field, and stores them', async () => {
      const body = {
        id: 'job-1:a.b_C',
        command: 'sleep 1',
        state: 'pending',
        attempts: 0,
        max_retries: 0,
        created_at: '2001-01-01T00:00:00Z',
        updated_at: '2001-01-01T00:00:00Z',
        priority: -5,
        run_at: '2031-06-01T12:00:00Z',
        timeout_seconds: 90,
        backoff_base: 1.5,
      };
      const res = await http(t).post('/api/jobs').set(t.auth).send(body);
      expect(res.status).toBe(201);
      expectJobShape(res.body);
      expect(res.body).toMatchObject({
        id: 'job-1:a.b_C',
        state: 'pending',
        attempts: 0,
        max_retries: 0,
        priority: -5,
        run_at: '2031-06-01T12:00:00.000Z',
        timeout_seconds: 90,
        backoff_base: 1.5,
        // The service sets its own times; the given ones are accepted for the form's sake only.
        created_at: new Date(clock.now()).toISOString(),
      });
      const shown = await http(t).get('/api/jobs/job-1:a.b_C').set(t.auth);
      expect(shown.body).toMatchObject({ priority: -5, run_at: '2031-06-01T12:00:00.000Z', timeout_seconds: 90, backoff_base: 1.5, max_retries: 0 });
    });

    it.each([
      ['unicode', 'echo "héllo wörld" 🚀 日本語 👩‍👩‍👧'],
      ['quotes and pipes', `printf '%s\\n' "it's" | tr a-z A-Z | cat -n > /dev/null`],
      ['substitutions', 'echo $(date +%s) `whoami` ${HOME} $((1 + 2)); exit 0'],
      ['newlines, tabs, CR and trailing blanks', 'line1\nline2\r\n\ttabbed  trailing  '],
      ['backslashes', 'echo a\\b\\\\c "\\"" \'\\\''],
      ['leading blanks', '   echo leading'],
      ['decomposed accent kept apart from the composed one', 'echo e\u0301 \u00e9'],
      ['line separators', 'echo \u2028\u2029'],
      ['JSON inside', `echo '{"json": [1, 2], "k": null}'`],
    ])('stores the command byte for byte: %s', async (_name, command) => {
      const created = await enqueue(t, { command });
      expect(created.command).toBe(command);
      const shown = await http(t).get(`/api/jobs/${created.id}`).set(t.auth);
      expect(shown.body.command).toBe(command);
      const listed = await http(t).get('/api/jobs').set(t.auth);
      expect(listed.body.jobs.find((j: { id: string }) => j.id === created.id).command).toBe(command);
      const [row] = await t.app.get(SqlDatabase).rows<{ hex: string }>(`SELECT ${sqlHexOf('command')} AS hex FROM jobs WHERE id = ?`, [created.id]);
      expect(row.hex.toLowerCase()).toBe(Buffer.from(command, 'utf8').toString('hex'));
    });

    it('copies the max-retries setting into each new job: a change affects new jobs only', async () => {
      const before = await enqueue(t, { command: 'true' });
      expect(before.max_retries).toBe(3);
      expect((await http(t).put('/api/config/max-retries').set(t.auth).send({ value: 6 })).status).toBe(200);
      const after = await enqueue(t, { command: 'true' });
      expect(after.max_retries).toBe(6);
      expect((await http(t).get(`/api/jobs/${before.id}`).set(t.auth)).body.max_retries).toBe(3);
    });
  });

  describe('POST /api/jobs/batch', () => {
    it('answers JSON that lists each job as it is shown, for batches alike but for ids and commands and for mixed ones', async () => {
      const batches = [
        Array.from({ length: 50 }, (_, i) => ({ command: i % 2 ? 'true' : `echo "${i}" ünï 🚀` })),
        [{ command: 'a', queue: 'q1' }, { command: 'b', cwd: '/tmp', env: { A: '1' } }, { command: 'c', run_at: '2031-01-01T00:00:00Z', priority: 2 }],
      ];
      for (const jobs of batches) {
        const res = await http(t).post('/api/jobs/batch').set(t.auth).send({ jobs });
        expect(res.status).toBe(201);
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(res.body.jobs.map((j: { command: string }) => j.command)).toEqual(jobs.map((j) => j.command));
        for (const job of res.body.jobs) {
          const shown = await http(t).get(`/api/jobs/${job.id}`).set(t.auth);
          expect(shown.body).toEqual({ ...job, runs: [], dependents: [] });
        }
      }
    });

    it('enqueues every job of the batch, in order', async () => {
      const res = await http(t)
        .post('/api/jobs/batch')
        .set(t.auth)
        .send({ jobs: [{ id: 'b1', command: 'echo 1' }, { command: 'echo 2', priority: 3 }, { id: 'b3', command: 'echo 3', max_retries: 1 }] });
      expect(res.status).toBe(201);
      expect(res.body.jobs.map((j: { command: string }) => j.command)).toEqual(['echo 1', 'echo 2', 'echo 3']);
      res.body.jobs.forEach(expectJobShape);
      expect(res.body.jobs[0].id).toBe('b1');
      expect(res.body.jobs[1].priority).toBe(3);
      expect(res.body.jobs[2].max_retries).toBe(1);
      expect((await http(t).get('/api/status').set(t.auth)).body.counts.pending).toBe(3);
    });

    it('is all or nothing: one id that exists already rejects the whole batch', async () => {
      const original = await enqueue(t, { id: 'taken', command: 'echo original' });
      clock.advance(5 * SECOND);
      const res = await http(t)
        .post('/api/jobs/batch')
        .set(t.auth)
        .send({ jobs: [{ id: 'fresh-1', command: 'echo a' }, { id: 'taken', command: 'echo b' }, { id: 'fresh-2', command: 'echo c' }] });
      expectError(res, 409, 'duplicate_job', /taken/);
      expect(res.body.error.details).toEqual({ ids: ['taken'] });
      const all = await http(t).get('/api/jobs').set(t.auth);
      expect(all.body.jobs.map((j: { id: string }) => j.id)).toEqual(['taken']);
      expect(all.body.jobs[0]).toMatchObject({ command: 'echo original', created_at: original.created_at });
    });

    it('is all or nothing: an id repeated inside the batch rejects it', async () => {
      const res = await http(t)
        .post('/api/jobs/batch')
        .set(t.auth)
        .send({ jobs: [{ id: 'twice', command: 'echo a' }, { id: 'once', command: 'echo b' }, { id: 'twice', command: 'echo c' }] });
      expectError(res, 409, 'duplicate_job', /twice/);
      expect((await http(t).get('/api/jobs').set(t.auth)).body.jobs).toEqual([]);
    });

    it('is all or nothing: one invalid job rejects the batch and names it', async () => {
      const res = await http(t)
        .post('/api/jobs/batch')
        .set(t.auth)
        .send({ jobs: [{ command: 'echo a' }, { command: 'echo b', run_at: 'soon' }] });
      expectError(res, 400, 'invalid_input', /jobs\[1\]/);
      expect((await http(t).get('/api/jobs').set(t.auth)).body.jobs).toEqual([]);
    });
  });

  describe('Prefer: return=minimal', () => {
    const minimal = { Prefer: 'return=minimal' };

    it('answers a batch with its ids alone, in order, and stores every job as without it', async () => {
      const jobs = [{ id: 'm1', command: 'echo 1' }, { command: 'echo 2', priority: 3 }, { command: 'echo 3', queue: 'q1', after: ['m1'] }];
      const res = await http(t).post('/api/jobs/batch').set(t.auth).set(minimal).send({ jobs });
      expect(res.status).toBe(201);
      expect(res.headers['preference-applied']).toBe('return=minimal');
      expect(Object.keys(res.body)).toEqual(['ids']);
      expect(res.body.ids).toHaveLength(3);
      expect(res.body.ids[0]).toBe('m1');
      const shown = await Promise.all(res.body.ids.map((id: string) => http(t).get(`/api/jobs/${id}`).set(t.auth)));
      expect(shown.map((r) => r.body.command)).toEqual(['echo 1', 'echo 2', 'echo 3']);
      expect(shown[1].body).toMatchObject({ state: 'pending', priority: 3, max_retries: 3 });
      expect(shown[2].body).toMatchObject({ queue: 'q1', after: ['m1'], waiting_on: ['m1'] });
    });

    it('answers one job with its id alone', async () => {
      const res = await http(t).post('/api/jobs').set(t.auth).set(minimal).send({ command: 'echo hi' });
      expect(res.status).toBe(201);
      expect(res.headers['preference-applied']).toBe('return=minimal');
      expect(Object.keys(res.body)).toEqual(['id']);
      expect((await http(t).get(`/api/jobs/${res.body.id}`).set(t.auth)).body).toMatchObject({ command: 'echo hi', state: 'pending' });
    });

    it('is read among other preferences, quoted or in capitals; the first return preference decides, and without one the jobs are answered', async () => {
      const headers: Array<[string, boolean]> = [
        ['respond-async, return=minimal; x=1', true],
        ['RETURN="Minimal"', true],
        ['return=representation, return=minimal', false],
        ['return=minimalist', false],
        ['minimal', false],
        ['', false],
      ];
      for (const [prefer, isMinimal] of headers) {
        const res = await http(t).post('/api/jobs/batch').set(t.auth).set('Prefer', prefer).send({ jobs: [{ command: 'true' }] });
        expect(res.status).toBe(201);
        expect(res.headers['preference-applied']).toBe(isMinimal ? 'return=minimal' : undefined);
        expect(Object.keys(res.body)).toEqual([isMinimal ? 'ids' : 'jobs']);
      }
    });

    it('changes nothing for a request that is refused', async () => {
      await enqueue(t, { id: 'taken', command: 'echo original' });
      const taken = await http(t).post('/api/jobs/batch').set(t.auth).set(minimal).send({ jobs: [{ id: 'fresh', command: 'a' }, { id: 'taken', command: 'b' }] });
      expectError(taken, 409, 'duplicate_job', /taken/);
      expect(taken.headers['preference-applied']).toBeUndefined();
      const invalid = await http(t).post('/api/jobs').set(t.auth).set(minimal).send({ command: 'a', priority: 'high' });
      expectError(invalid, 400, 'invalid_input', /priority/);
      expect((await http(t).get('/api/jobs').set(t.auth)).body.jobs.map((j: { id: string }) => j.id)).toEqual(['taken']);
    });
  });

  describe('GET /api/jobs', () => {
    it('filters by state', async () => {
      const pending = await enqueue(t, { command: 'echo pending' });
      const done = await jobIn(t, clock, 'completed', { command: 'echo done' });
      const dead = await jobIn(t, clock, 'dead', { command: 'echo dead' });
      const ids = async (state: string) =>
        (await http(t).get(`/api/jobs?state=${state}`).set(t.auth)).body.jobs.map((j: { id: string }) => j.id);
      expect(await ids('pending')).toEqual([pending.id]);
      expect(await ids('completed')).toEqual([done.id]);
      expect(await ids('dead')).toEqual([dead.id]);
      expect(await ids('processing')).toEqual([]);
      const all = await http(t).get('/api/jobs').set(t.auth);
      expect(all.body.jobs.map((j: { id: string }) => j.id)).toEqual([dead.id, done.id, pending.id]);
      all.body.jobs.forEach(expectJobShape);
    });

    it('searches by exact id and by part of the command, with % and _ taken literally', async () => {
      await enqueue(t, { id: 'report-2030', command: 'echo nightly report' });
      await enqueue(t, { id: 'percent', command: 'echo 100% done' });
      await enqueue(t, { id: 'no-percent', command: 'echo 1000 done' });
      await enqueue(t, { id: 'under', command: 'echo a_b' });
      await enqueue(t, { id: 'no-under', command: 'echo axb' });
      const found = async (q: string, extra = '') =>
        (await http(t).get(`/api/jobs?q=${encodeURIComponent(q)}${extra}`).set(t.auth)).body.jobs.map((j: { id: string }) => j.id).sort();
      expect(await found('report-2030')).toEqual(['report-2030']);
      expect(await found('nightly rep')).toEqual(['report-2030']);
      expect(await found('100%')).toEqual(['percent']);
      expect(await found('a_b')).toEqual(['under']);
      expect(await found('done')).toEqual(['no-percent', 'percent']);
      expect(await found('report-20')).toEqual([]);
      expect(await found('done', '&state=dead')).toEqual([]);
    });

    it('pages with limit and next_cursor, newest first, covering every job exactly once', async () => {
      const created = await http(t)
        .post('/api/jobs/batch')
        .set(t.auth)
        .send({ jobs: Array.from({ length: 23 }, (_, i) => ({ id: `page-${i}`, command: `echo ${i}` })) });
      expect(created.status).toBe(201);
      const seen: string[] = [];
      let cursor: number | null = null;
      let pages = 0;
      do {
        const res: request.Response = await http(t)
          .get(`/api/jobs?limit=5${cursor === null ? '' : `&cursor=${cursor}`}`)
          .set(t.auth);
        expect(res.status).toBe(200);
        expect(res.body.jobs.length).toBeLessThanOrEqual(5);
        seen.push(...res.body.jobs.map((j: { id: string }) => j.id));
        cursor = res.body.next_cursor;
        pages += 1;
      } while (cursor !== null && pages < 20);
      expect(cursor).toBeNull();
      expect(pages).toBe(5);
      expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => `page-${22 - i}`));
    });

    it('pages within a state filter', async () => {
      await http(t)
        .post('/api/jobs/batch')
        .set(t.auth)
        .send({ jobs: Array.from({ length: 12 }, (_, i) => ({ id: `s-${i}`, command: `echo ${i}` })) });
      const cancelled = ['s-1', 's-4', 's-5', 's-9', 's-11'];
      for (const id of cancelled) expect((await http(t).post(`/api/jobs/${id}/cancel`).set(t.auth)).status).toBe(200);
      const seen: string[] = [];
      let cursor: number | null = null;
      for (let page = 0; page < 10; page++) {
        const res: request.Response = await http(t)
          .get(`/api/jobs?state=dead&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
          .set(t.auth);
        seen.push(...res.body.jobs.map((j: { id: string }) => j.id));
        cursor = res.body.next_cursor;
        if (cursor === null) break;
      }
      expect(cursor).toBeNull();
      expect(seen).toEqual([...cancelled].reverse());
    });
  });

  describe('GET /api/jobs/:id', () => {
    it('shows a job with every run, each with its outcome', async () => {
      const job = await enqueue(t, { id: 'twice-run', command: 'exit 3', priority: FIRST, max_retries: 2 });
      const first = await claimOne(t, clock, job.id);
      const repo = t.app.get(JobsRepository);
      const db = t.app.get(SqlDatabase);
      const failedAt = clock.advance(1500);
      await db.write(async (sql) => {
        const outcome = { exitCode: 3, error: 'exit code 3' };
        expect(await repo.scheduleRetry(sql, job.id, first.lease, failedAt, failedAt + 2 * SECOND, outcome)).toBe(true);
        await repo.finishAttempt(sql, job.id, first.lease, failedAt, outcome);
      });
      const failed = (await http(t).get('/api/jobs/twice-run').set(t.auth)).body;
      expect(failed).toMatchObject({ state: 'failed', attempts: 1, exit_code: 3, last_error: 'exit code 3' });
      expect(failed.next_run_at).toBe(new Date(failedAt + 2 * SECOND).toISOString());

      clock.advance(2 * SECOND);
      const second = await claimOne(t, clock, job.id);
      const doneAt = clock.advance(250);
      await db.write(async (sql) => {
        expect(await repo.completeRuns(sql, [{ id: job.id, lease: second.lease }], doneAt)).toEqual([job.id]);
        await repo.finishAttempt(sql, job.id, second.lease, doneAt, { exitCode: 0, error: null });
      });

      const res = await http(t).get('/api/jobs/twice-run').set(t.auth);
      expect(res.status).toBe(200);
      expectJobShape(res.body);
      expect(res.body).toMatchObject({ state: 'completed', attempts: 2, exit_code: 0, last_error: null, duration_ms: 250 });
      expect(res.body.runs).toHaveLength(2);
      expect(res.body.runs[0]).toMatchObject({ run: 1, attempt: 1, exit_code: 3, error: 'exit code 3', duration_ms: 1500, worker_id: 'test-worker' });
      expect(res.body.runs[1]).toMatchObject({ run: 2, attempt: 2, exit_code: 0, error: null, duration_ms: 250 });
      for (const run of res.body.runs) {
        expect(run.started_at).toMatch(ISO_UTC);
        expect(run.finished_at).toMatch(ISO_UTC);
      }
    });
  });

  describe('POST /api/jobs/:id/cancel', () => {
    it('sends a pending job to the DLQ with reason cancelled', async () => {
      const job = await enqueue(t, { command: 'sleep 100' });
      clock.advance(SECOND);
      const res = await http(t).post(`/api/jobs/${job.id}/cancel`).set(t.auth);
      expect(res.status).toBe(200);
      expectJobShape(res.body);
      expect(res.body).toMatchObject({ id: job.id, state: 'dead', last_error: 'cancelled', updated_at: new Date(clock.now()).toISOString() });
      const dlq = await http(t).get('/api/dlq').set(t.auth);
      expect(dlq.body.jobs.map((j: { id: string }) => j.id)).toEqual([job.id]);
    });

    it('sends a failed job waiting for its retry to the DLQ', async () => {
      const job = await jobIn(t, clock, 'failed', { command: 'exit 1' });
      const res = await http(t).post(`/api/jobs/${job.id}/cancel`).set(t.auth);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'dead', last_error: 'cancelled', next_run_at: null });
    });

    it('marks a running job for its worker to kill, leaving it processing', async () => {
      const job = await jobIn(t, clock, 'processing', { command: 'sleep 100' });
      const res = await http(t).post(`/api/jobs/${job.id}/cancel`).set(t.auth);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'processing', cancel_requested: true });
    });
  });

  describe('POST /api/jobs/purge', () => {
    it('deletes completed or dead jobs finished long enough ago, with their runs, and nothing else', async () => {
      const oldDone = await jobIn(t, clock, 'completed', { command: 'echo old' });
      const oldDead = await jobIn(t, clock, 'dead', { command: 'exit 1' });
      clock.advance(100 * SECOND);
      const newDone = await jobIn(t, clock, 'completed', { command: 'echo new' });
      const pending = await enqueue(t, { command: 'echo waiting' });
      const failed = await jobIn(t, clock, 'failed', { command: 'exit 2' });
      clock.advance(100 * SECOND);

      const first = await http(t).post('/api/jobs/purge').set(t.auth).send({ state: 'completed', older_than_seconds: 150 });
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ purged: 1 });
      const ids = async () => (await http(t).get('/api/jobs').set(t.auth)).body.jobs.map((j: { id: string }) => j.id).sort();
      expect(await ids()).toEqual([oldDead.id, newDone.id, pending.id, failed.id].sort());

      const second = await http(t).post('/api/jobs/purge').set(t.auth).send({ state: 'dead' });
      expect(second.body).toEqual({ purged: 1 });
      const third = await http(t).post('/api/jobs/purge').set(t.auth).send({ state: 'completed' });
      expect(third.body).toEqual({ purged: 1 });
      expect(await ids()).toEqual([pending.id, failed.id].sort());

      // Their runs went with them; the failed job keeps its own.
      const runs = await t.app.get(SqlDatabase).rows<{ job_id: string }>('SELECT job_id FROM job_attempts');
      expect(runs.map((r) => r.job_id)).toEqual([failed.id]);
      expect((await http(t).get(`/api/jobs/${oldDone.id}`).set(t.auth)).status).toBe(404);
      const status = await http(t).get('/api/status').set(t.auth);
      expect(status.body.counts).toEqual({ pending: 1, processing: 0, completed: 0, failed: 1, dead: 0 });
    });
  });

  describe('DLQ', () => {
    it('lists dead jobs only, newest first', async () => {
      const a = await jobIn(t, clock, 'dead', { command: 'exit 1' });
      await enqueue(t, { command: 'echo alive' });
      await jobIn(t, clock, 'completed', { command: 'echo done' });
      const b = await jobIn(t, clock, 'dead', { command: 'exit 2' });
      const res = await http(t).get('/api/dlq').set(t.auth);
      expect(res.status).toBe(200);
      res.body.jobs.forEach(expectJobShape);
      expect(res.body.jobs.map((j: { id: string }) => j.id)).toEqual([b.id, a.id]);
      expect(res.body.next_cursor).toBeNull();
    });

    it('retries one dead job: pending again, attempts 0, error cleared, claimable', async () => {
      const dead = await jobIn(t, clock, 'dead', { command: 'exit 1' });
      expect(dead).toMatchObject({ attempts: 1, last_error: 'exit code 3', exit_code: 3 });
      clock.advance(SECOND);
      const res = await http(t).post(`/api/dlq/${dead.id}/retry`).set(t.auth);
      expect(res.status).toBe(200);
      expectJobShape(res.body);
      expect(res.body).toMatchObject({ id: dead.id, state: 'pending', attempts: 0, last_error: null, exit_code: null, finished_at: null });
      await claimOne(t, clock, dead.id);
      const shown = await http(t).get(`/api/jobs/${dead.id}`).set(t.auth);
      expect(shown.body).toMatchObject({ state: 'processing', attempts: 1 });
      expect(shown.body.runs.map((r: { run: number; attempt: number }) => [r.run, r.attempt])).toEqual([
        [1, 1],
        [2, 1],
      ]);
    });

    it('retries every dead job at once', async () => {
      const dead = [await jobIn(t, clock, 'dead', { command: 'exit 1' }), await jobIn(t, clock, 'dead', { command: 'exit 2' })];
      const cancelled = await enqueue(t, { command: 'sleep 1' });
      await http(t).post(`/api/jobs/${cancelled.id}/cancel`).set(t.auth);
      const done = await jobIn(t, clock, 'completed', { command: 'true' });

      const res = await http(t).post('/api/dlq/retry-all').set(t.auth);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ retried: 3 });
      for (const id of [...dead.map((d) => d.id), cancelled.id]) {
        expect((await http(t).get(`/api/jobs/${id}`).set(t.auth)).body).toMatchObject({ state: 'pending', attempts: 0, last_error: null });
      }
      expect((await http(t).get(`/api/jobs/${done.id}`).set(t.auth)).body.state).toBe('completed');
      expect((await http(t).post('/api/dlq/retry-all').set(t.auth)).body).toEqual({ retried: 0 });
    });
  });

  describe('GET /api/status', () => {
    it('counts all five states and the live workers', async () => {
      await enqueue(t, { command: 'echo 1' });
      await enqueue(t, { command: 'echo 2' });
      await jobIn(t, clock, 'processing', { command: 'sleep 9' });
      await jobIn(t, clock, 'completed', { command: 'true' });
      await jobIn(t, clock, 'failed', { command: 'false' });
      await jobIn(t, clock, 'dead', { command: 'false' });
      const res = await http(t).get('/api/status').set(t.auth);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        counts: { pending: 2, processing: 1, completed: 1, failed: 1, dead: 1 },
        total: 6,
        workers: { active: 0 },
      });
    });
  });

  describe('config', () => {
    it('lists every setting with its value, default and meaning', async () => {
      const res = await http(t).get('/api/config').set(t.auth);
      expect(res.status).toBe(200);
      const keys = res.body.config.map((c: { key: string }) => c.key);
      expect(keys).toEqual(expect.arrayContaining(['max-retries', 'backoff-base', 'backoff-max', 'job-timeout', 'lease-timeout', 'heartbeat-interval']));
      expect(keys.some((k: string) => k.startsWith('retention'))).toBe(true);
      expect(res.body.config.find((c: { key: string }) => c.key === 'max-retries')).toMatchObject({ value: 3, default: 3, help: expect.any(String) });
    });

    it('reads and writes a key with dashes or underscores, and keeps it across a restart', async () => {
      const home = tempHome();
      const env = { QUEUECTL_HOME: home, QUEUECTL_DATABASE_URL: databaseUrlOf(home) };
      let app = await createTestApp({ env });
      try {
        expect((await http(app).get('/api/config/max_retries').set(app.auth)).body).toEqual({ key: 'max-retries', value: 3 });
        expect((await http(app).put('/api/config/max_retries').set(app.auth).send({ value: 5 })).body).toEqual({ key: 'max-retries', value: 5 });
        expect((await http(app).put('/api/config/backoff-base').set(app.auth).send({ value: '1.5' })).body).toEqual({ key: 'backoff-base', value: 1.5 });
        expect((await http(app).get('/api/config/max-retries').set(app.auth)).body).toEqual({ key: 'max-retries', value: 5 });
        await app.close();
        app = await createTestApp({ env });
        expect((await http(app).get('/api/config/max-retries').set(app.auth)).body.value).toBe(5);
        expect((await http(app).get('/api/config/backoff_base').set(app.auth)).body.value).toBe(1.5);
        expect((await enqueue(app, { command: 'true' })).max_retries).toBe(5);
      } finally {
        await app.close();
        removeHome(home);
      }
    });

    it.each([
      ['max-retries', -1],
      ['max-retries', 1.5],
      ['max-retries', 'abc'],
      ['max-retries', ''],
      ['max-retries', null],
      ['max-retries', true],
      ['max-retries', [3]],
      ['max-retries', 1001],
      ['backoff-base', 0.5],
      ['job-timeout', -3],
      ['lease-timeout', 9],
      ['heartbeat-interval', 20],
    ])('refuses %s = %j and keeps the old value', async (key, value) => {
      const before = (await http(t).get(`/api/config/${key}`).set(t.auth)).body.value;
      const res = await http(t).put(`/api/config/${key}`).set(t.auth).send({ value });
      expectError(res, 400, 'invalid_input');
      expect((await http(t).get(`/api/config/${key}`).set(t.auth)).body.value).toBe(before);
    });

    it('refuses a lease-timeout under twice the heartbeat-interval, whichever key changes', async () => {
      const lease = await http(t).put('/api/config/lease-timeout').set(t.auth).send({ value: 9 });
      expectError(lease, 400, 'invalid_input', /lease-timeout.*2 × heartbeat-interval/);
      expect((await http(t).put('/api/config/heartbeat-interval').set(t.auth).send({ value: 10 })).status).toBe(200);
      expectError(await http(t).put('/api/config/heartbeat-interval').set(t.auth).send({ value: 15.5 }), 400, 'invalid_input', /lease-timeout/);
      expect((await http(t).put('/api/config/lease-timeout').set(t.auth).send({ value: 20 })).status).toBe(200);
      expectError(await http(t).put('/api/config/lease_timeout').set(t.auth).send({ value: 19.9 }), 400, 'invalid_input');
      const list = (await http(t).get('/api/config').set(t.auth)).body.config;
      const value = (k: string) => list.find((c: { key: string }) => c.key === k).value;
      expect([value('lease-timeout'), value('heartbeat-interval')]).toEqual([20, 10]);
    });

    it('never lets two concurrent changes together break the lease rule', async () => {
      // Each change alone is fine (lease 30 ≥ 2 × 15; 20 ≥ 2 × 5); both together are not.
      const [a, b] = await Promise.all([
        http(t).put('/api/config/heartbeat-interval').set(t.auth).send({ value: 15 }),
        http(t).put('/api/config/lease-timeout').set(t.auth).send({ value: 20 }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 400]);
      const list = (await http(t).get('/api/config').set(t.auth)).body.config;
      const value = (k: string) => list.find((c: { key: string }) => c.key === k).value;
      expect(value('lease-timeout')).toBeGreaterThanOrEqual(2 * value('heartbeat-interval'));
      // What the service answers is what it stored.
      const stored = await t.app.get(SqlDatabase).rows<{ key: string; value: string }>('SELECT key, value FROM settings');
      for (const row of stored) expect(value(row.key)).toBe(Number(row.value));
    });
  });

  // On SQLite reset copies the file first; PostgreSQL has its own backups, and reset refuses.
  if (TEST_DIALECT === 'sqlite') {
  describe('POST /api/reset', () => {
    it('backs the database up to a valid SQLite file holding the old jobs, then empties the queue', async () => {
      const ids = ['keep-1', 'keep-2', 'keep-3'];
      for (const id of ids) await enqueue(t, { id, command: `echo ${id}` });
      const done = await jobIn(t, clock, 'completed', { id: 'keep-done', command: 'true' });
      await http(t).put('/api/config/max-retries').set(t.auth).send({ value: 7 });

      const res = await http(t).post('/api/reset').set(t.auth);
      expect(res.status).toBe(200);
      expect(res.body.deleted).toBe(4);
      const backup: string = res.body.backup;
      expect(backup.startsWith(join(t.home, 'backups'))).toBe(true);
      expect(existsSync(backup)).toBe(true);
      expect(await querySqliteFile(backup, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
      const saved = await querySqliteFile<{ id: string; command: string }>(backup, 'SELECT id, command FROM jobs ORDER BY id');
      expect(saved.map((r) => r.id)).toEqual([...ids, done.id].sort());
      expect(saved.find((r) => r.id === 'keep-1')?.command).toBe('echo keep-1');
      expect(await querySqliteFile(backup, 'SELECT job_id, run FROM job_attempts')).toEqual([{ job_id: done.id, run: 1 }]);

      expect((await http(t).get('/api/jobs').set(t.auth)).body).toEqual({ jobs: [], next_cursor: null });
      expect((await http(t).get('/api/status').set(t.auth)).body.counts).toEqual({ pending: 0, processing: 0, completed: 0, failed: 0, dead: 0 });
      expect(await t.app.get(SqlDatabase).rows('SELECT * FROM job_attempts')).toEqual([]);
      // Settings are not jobs: they stay.
      expect((await http(t).get('/api/config/max-retries').set(t.auth)).body.value).toBe(7);
      // An old id can be used again, and its first run is run 1 again.
      await enqueue(t, { id: done.id, command: 'true', priority: FIRST });
      await claimOne(t, clock, done.id);
    });

    it('loses no job acknowledged while it runs: each one is in the backup or still queued', async () => {
      const bulk = Array.from({ length: 2000 }, (_, i) => ({ id: `bulk-${i}`, command: `echo ${'x'.repeat(200)} ${i}` }));
      for (let i = 0; i < bulk.length; i += 500) {
        expect((await http(t).post('/api/jobs/batch').set(t.auth).send({ jobs: bulk.slice(i, i + 500) })).status).toBe(201);
      }
      const reset = http(t).post('/api/reset').set(t.auth).then((r) => r);
      const racing = Array.from({ length: 40 }, (_, i) =>
        http(t).post('/api/jobs').set(t.auth).send({ id: `racing-${i}`, command: 'true' }).then((r) => r),
      );
      const [answer, ...enqueued] = await Promise.all([reset, ...racing]);
      expect(answer.status).toBe(200);
      const acknowledged = enqueued.filter((r) => r.status === 201).map((r) => r.body.id as string);
      expect(acknowledged).toHaveLength(40);
      const backedUp = new Set((await querySqliteFile<{ id: string }>(answer.body.backup, 'SELECT id FROM jobs')).map((r) => r.id));
      const queued = new Set((await t.app.get(SqlDatabase).rows<{ id: string }>('SELECT id FROM jobs')).map((r) => r.id));
      expect(acknowledged.filter((id) => !backedUp.has(id) && !queued.has(id))).toEqual([]);
      expect(answer.body.deleted).toBe(backedUp.size);
    });
  });
  }

  if (TEST_DIALECT === 'postgres') {
    it('POST /api/reset refuses on PostgreSQL, pointing at pg_dump, and deletes nothing', async () => {
      await enqueue(t, { id: 'stays', command: 'true' });
      const res = await http(t).post('/api/reset').set(t.auth);
      expect(res.status).toBe(409);
      expect(res.body.error.message).toMatch(/^reset is for the embedded SQLite queue; on PostgreSQL back up the database with pg_dump/);
      expect(res.body.error.message).not.toMatch(/\n/);
      expect((await http(t).get('/api/jobs/stays').set(t.auth)).status).toBe(200);
    });
  }

  describe('server routes', () => {
    it('POST /api/shutdown answers 202 and asks the service to stop', async () => {
      const res = await http(t).post('/api/shutdown').set(t.auth);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ status: 'stopping' });
      await waitFor(() => t.shutdownRequests === 1, 5000, 'the shutdown hook');
    });

    it('GET /api/health answers without a token', async () => {
      const res = await http(t).get('/api/health');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'ok', pid: process.pid, replica: `${hostname()}:${process.pid}` });
    });

    it('GET /api/docs serves the OpenAPI description of every route', async () => {
      const page = await http(t).get('/api/docs');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.text).toMatch(/swagger/i);
      const doc = await http(t).get('/api/docs-json');
      expect(doc.status).toBe(200);
      expect(doc.body.openapi).toMatch(/^3\./);
      const routes = Object.entries(doc.body.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
      expect(routes).toEqual(
        expect.arrayContaining([
          'POST /api/jobs',
          'GET /api/jobs',
          'POST /api/jobs/batch',
          'POST /api/jobs/purge',
          'GET /api/jobs/{id}',
          'POST /api/jobs/{id}/cancel',
          'GET /api/dlq',
          'POST /api/dlq/{id}/retry',
          'POST /api/dlq/retry-all',
          'GET /api/status',
          'GET /api/config',
          'GET /api/config/{key}',
          'PUT /api/config/{key}',
          'POST /api/reset',
          'POST /api/shutdown',
          'GET /api/health',
        ]),
      );
      expect(doc.body.components.schemas.EnqueueJobDto.required).toEqual(['command']);
      for (const field of SEVEN_FIELDS) expect(doc.body.components.schemas.EnqueueJobDto.properties).toHaveProperty(field);
    });
  });
});
