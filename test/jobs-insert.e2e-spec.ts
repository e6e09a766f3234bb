import { DuplicateJob } from '../src/common/domain-errors';
import { SqlDatabase } from '../src/database/sql';
import { JobRow, NewJob } from '../src/jobs/job-row';
import { EnqueueJobDto } from '../src/jobs/dto/enqueue-job.dto';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { JobsService } from '../src/jobs/jobs.service';
import { QueuesRepository } from '../src/queues/queues.repository';
import { ClaimHandoff } from '../src/jobs/claim-handoff';
import { WorkersService } from '../src/workers/workers.service';
import { LeaseReaper } from '../src/workers/lease-reaper';
import { ConfigService } from '../src/config/config.service';
import { leaseBudget } from '../src/common/lease-budget';
import { Client } from 'pg';
import { TEST_DATABASE_URL, TEST_DIALECT, sentToPostgres, sqlHexOf } from './support/database';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';
import { newJob } from './support/new-job';

/**
 * JobsRepository.insertGroups on the real schema: the rows travel to SQLite as JSON and the
 * primary key finds taken ids, so what is stored must be exactly what was asked, byte for byte,
 * and each group must stay all or nothing.
 */

describe('JobsRepository.insertGroups', () => {
  let t: TestApp;
  let clock: ManualClock;
  let repo: JobsRepository;
  let db: SqlDatabase;

  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    repo = t.app.get(JobsRepository);
    db = t.app.get(SqlDatabase);
  });
  afterEach(async () => {
    await t?.close();
  });

  const insertGroups = (...groups: NewJob[][]) => db.write((sql) => repo.insertGroups(sql, groups, clock.now()));
  const stored = async () => db.rows<JobRow>('SELECT * FROM jobs ORDER BY seq');
  const pending = async () => Number((await db.rows<{ n: number }>(`SELECT n FROM job_counts WHERE state = 'pending'`))[0].n);

  it('stores every field as given, and answers with the rows it stored', async () => {
    const odd = 'printf "%s\\n" \'quotes\' "and \\\\ backslashes" ; echo ünïcödé 🚀 \t tab\r\n line';
    const jobs = [
      newJob('plain'),
      newJob('full', { command: odd, maxRetries: 0, priority: -1_000_000, runAt: clock.now() + 5000, timeoutSeconds: 2_592_000, backoffBase: 1.5 }),
      newJob('json-like', { command: '[["x", 1], {"a": null}]', priority: 1_000_000, backoffBase: 100 }),
    ];
    const [answer] = await insertGroups(jobs);
    const rows = await stored();
    expect(rows).toEqual(answer);
    expect(rows.map((r) => [r.id, r.command, r.max_retries, r.priority, r.run_at, r.due_at, r.timeout_seconds, r.backoff_base])).toEqual([
      ['plain', 'echo plain', 3, 0, null, clock.now(), null, null],
      ['full', odd, 0, -1_000_000, clock.now() + 5000, clock.now() + 5000, 2_592_000, 1.5],
      ['json-like', '[["x", 1], {"a": null}]', 3, 1_000_000, null, clock.now(), null, 100],
    ]);
    expect(rows.map((r) => r.state)).toEqual(['pending', 'pending', 'pending']);
    expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3]);
    expect(await pending()).toBe(3);
  });

  it('stores each field as given whichever of them differ between the rows of a group and whichever they share', async () => {
    const later = clock.now() + 5000;
    const shapes: Array<Partial<NewJob>[]> = [
      [{}],
      [{ command: 'same' }, { command: 'same' }],
      [{ maxRetries: 0 }, { maxRetries: 7 }],
      [{ priority: -3 }, { priority: 9 }],
      [{ runAt: later }, { runAt: null }],
      [{ timeoutSeconds: 30 }, { timeoutSeconds: null }],
      [{ backoffBase: 1.5 }, { backoffBase: 2 }],
      [{ queue: 'emails' }, { queue: 'default' }],
      [{ cwd: '/srv' }, { cwd: null }],
      [{ env: { A: '1' } }, { env: null }],
      [{ queue: 'emails', priority: 4, cwd: '/srv', env: { B: 'x' }, runAt: later, timeoutSeconds: 9, backoffBase: 3, maxRetries: 1 }, { queue: 'emails' }],
    ];
    const groups = shapes.map((shape, g) => shape.map((fields, i) => newJob(`s${g}-${i}`, fields)));
    const answers = (await insertGroups(...groups)) as JobRow[][];
    const rows = await stored();
    expect(rows).toEqual(answers.flat());
    const expected = groups.flat().map((j) => [
      j.id,
      j.command,
      j.maxRetries,
      j.priority,
      j.runAt,
      j.runAt ?? clock.now(),
      j.timeoutSeconds,
      j.backoffBase,
      j.queue ?? 'default',
      j.cwd ?? null,
      j.env ? JSON.stringify(j.env) : null,
    ]);
    expect(rows.map((r) => [r.id, r.command, r.max_retries, r.priority, r.run_at, r.due_at, r.timeout_seconds, r.backoff_base, r.queue, r.cwd, r.env])).toEqual(expected);
    const seqs = rows.map((r) => Number(r.seq));
    if (TEST_DIALECT === 'sqlite') expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    else expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(await pending()).toBe(rows.length);
  });

  it('stores a lone surrogate as U+FFFD, and answers with what it stored', async () => {
    const [answer] = (await insertGroups([newJob('surrogate', { command: 'echo \ud800 end' })])) as JobRow[][];
    expect(answer[0].command).toBe('echo \ufffd end');
    const [{ hex }] = await db.rows<{ hex: string }>(`SELECT ${sqlHexOf('command')} AS hex FROM jobs WHERE id = 'surrogate'`);
    expect(hex).toBe(Buffer.from('echo \ufffd end').toString('hex').toUpperCase());
  });

  it('refuses only the groups with a taken id; the others go in, in order (with no gap in seq on SQLite)', async () => {
    await insertGroups([newJob('taken-1'), newJob('taken-2')]);
    const outcomes = await insertGroups(
      [newJob('g1-a'), newJob('g1-b')],
      [newJob('g2-a'), newJob('taken-2'), newJob('g2-c')],
      [newJob('g3-a'), newJob('g3-a')],
      [newJob('g1-b')],
      [newJob('g5-a')],
    );
    expect(outcomes[0]).toEqual([expect.objectContaining({ id: 'g1-a' }), expect.objectContaining({ id: 'g1-b' })]);
    expect(outcomes[1]).toBeInstanceOf(DuplicateJob);
    expect((outcomes[1] as DuplicateJob).message).toMatch(/taken-2/);
    // A duplicate inside the group, and one of an earlier group of the same transaction.
    expect(outcomes[2]).toBeInstanceOf(DuplicateJob);
    expect(outcomes[3]).toBeInstanceOf(DuplicateJob);
    expect(outcomes[4]).toEqual([expect.objectContaining({ id: 'g5-a' })]);
    const rows = await stored();
    expect(rows.map((r) => r.id)).toEqual(['taken-1', 'taken-2', 'g1-a', 'g1-b', 'g5-a']);
    const seqs = rows.map((r) => Number(r.seq));
    // PostgreSQL's identity keeps no value an undone insert drew: creation order, with gaps.
    if (TEST_DIALECT === 'sqlite') expect(seqs).toEqual([1, 2, 3, 4, 5]);
    else expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(await pending()).toBe(5);
  });

  it('keeps a group with a taken id whole when its rows need several statements', async () => {
    await insertGroups([newJob('old')]);
    // 8 MiB of commands per statement: these groups need three.
    const big = (id: string) => newJob(id, { command: `echo ${'x'.repeat(3 * 1024 * 1024)}` });
    const outcomes = await insertGroups([big('b1'), big('b2'), big('b3')], [big('c1'), big('c2'), big('c3'), newJob('old')], [big('d1'), big('d2')]);
    expect(outcomes[1]).toBeInstanceOf(DuplicateJob);
    const rows = await stored();
    expect(rows.map((r) => r.id)).toEqual(['old', 'b1', 'b2', 'b3', 'd1', 'd2']);
    expect(rows.every((r) => r.id === 'old' || r.command.length === 5 + 3 * 1024 * 1024)).toBe(true);
    expect(await pending()).toBe(6);
  });

  it('answers each row of a 2,500-job group with the seq it was stored under, in order, also when the numbers drawn have gaps', async () => {
    const answered = async (prefix: string) => {
      const [outcome] = await insertGroups(Array.from({ length: 2500 }, (_, i) => newJob(`${prefix}-${i}`)));
      return (outcome as JobRow[]).map((r): [string, number] => [r.id, Number(r.seq)]);
    };
    const storedSeqs = async (prefix: string) =>
      (await db.rows<JobRow>(`SELECT id, seq FROM jobs WHERE id LIKE '${prefix}-%' ORDER BY seq`)).map((r): [string, number] => [r.id, Number(r.seq)]);
    const plain = await answered('a');
    expect(plain).toEqual(await storedSeqs('a'));
    expect(plain.map(([id]) => id)).toEqual(Array.from({ length: 2500 }, (_, i) => `a-${i}`));
    if (TEST_DIALECT === 'postgres') {
      // Numbers with gaps between them, as when another replica inserts at the same time.
      await db.write((sql) => sql.run('ALTER TABLE jobs ALTER COLUMN seq SET INCREMENT BY 3'));
      const gapped = await answered('b');
      expect(gapped).toEqual(await storedSeqs('b'));
      expect(gapped[1][1] - gapped[0][1]).toBe(3);
    }
    expect(await pending()).toBe(TEST_DIALECT === 'postgres' ? 5000 : 2500);
  });

  it('stores a 2,500-job group, and nothing of one that repeats a stored id at its end', async () => {
    const many = Array.from({ length: 2500 }, (_, i) => newJob(`m-${i}`, { priority: i % 7 }));
    await insertGroups(many);
    const again = [...Array.from({ length: 2499 }, (_, i) => newJob(`n-${i}`)), newJob('m-1234')];
    const [outcome] = await insertGroups(again);
    expect(outcome).toBeInstanceOf(DuplicateJob);
    const rows = await stored();
    expect(rows).toHaveLength(2500);
    expect(rows.map((r) => r.priority)).toEqual(many.map((j) => j.priority));
    expect(await pending()).toBe(2500);
  });

  describe('JobsService.enqueue of a lone job', () => {
    /** The INSERTs into jobs sent to PostgreSQL while `work` runs. */
    const jobInsertsDuring = async <T>(work: () => Promise<T>): Promise<{ value: T; inserts: string[] }> => {
      const { value, sent } = await sentToPostgres(work);
      return { value, inserts: sent.filter((text) => /INSERT INTO jobs\b/.test(text)) };
    };

    it('stores it with its own max retries, else its queue’s as stored, else the global setting; on PostgreSQL by one statement in autocommit', async () => {
      const service = t.app.get(JobsService);
      await db.write((sql) => t.app.get(QueuesRepository).upsert(sql, 'tight', { max_retries: 0 }, clock.now()));
      await db.write((sql) => t.app.get(QueuesRepository).upsert(sql, 'unset', { concurrency: 2 }, clock.now()));
      // A write's promise settles before its transaction's end is noted: the replica is idle from the next turn.
      await new Promise((r) => setImmediate(r));
      const cases: Array<[string, Partial<EnqueueJobDto>, number]> = [
        ['own', { queue: 'tight', max_retries: 5 }, 5],
        ['by-queue', { queue: 'tight' }, 0],
        ['queue-without', { queue: 'unset' }, 3],
        ['no-queue-row', { queue: 'nowhere' }, 3],
        ['default-queue', {}, 3],
      ];
      for (const [id, fields, maxRetries] of cases) {
        const { value, inserts } = await jobInsertsDuring(() => service.enqueue({ id, command: `echo ${id}`, ...fields } as EnqueueJobDto));
        expect(value).toMatchObject({ id, max_retries: maxRetries, state: 'pending' });
        if (TEST_DIALECT === 'postgres') {
          expect(inserts).toHaveLength(1);
          expect(inserts[0]).toMatch(/^WITH unit AS \(INSERT INTO jobs/);
        }
      }
      const rows = await stored();
      expect(rows.map((r) => [r.id, r.command, Number(r.max_retries)])).toEqual(cases.map(([id, , n]) => [id, `echo ${id}`, n]));
      expect(await pending()).toBe(cases.length);
    });

    it('holds the jobs that arrive while a lone job’s statement runs, and puts them in one unit after it', async () => {
      const service = t.app.get(JobsService);
      // On PostgreSQL another connection holds the table, so the lone job's INSERT waits.
      const [{ schema }] = TEST_DIALECT === 'postgres' ? await db.rows<{ schema: string }>('SELECT current_schema() AS schema') : [{ schema: '' }];
      const locker = TEST_DIALECT === 'postgres' ? new Client({ connectionString: TEST_DATABASE_URL }) : undefined;
      await locker?.connect();
      try {
        await locker?.query(`BEGIN; LOCK TABLE ${schema}.jobs IN EXCLUSIVE MODE`);
        const { value, inserts } = await jobInsertsDuring(async () => {
          const first = service.enqueue({ id: 'lone', command: 'true' } as EnqueueJobDto);
          await new Promise((r) => setTimeout(r, 100));
          const later = ['later-1', 'later-2'].map((id) => service.enqueue({ id, command: 'true' } as EnqueueJobDto));
          await new Promise((r) => setTimeout(r, 200));
          // Still held: the two later jobs wait for the lone statement, no unit of theirs has begun.
          const unitBegunWhileHeld = !db.writesIdle;
          await locker?.query('COMMIT');
          return { ids: (await Promise.all([first, ...later])).map((j) => j.id), unitBegunWhileHeld };
        });
        if (TEST_DIALECT === 'postgres') expect(value.unitBegunWhileHeld).toBe(false);
        expect(value.ids).toEqual(['lone', 'later-1', 'later-2']);
        expect((await stored()).map((r) => r.id)).toEqual(['lone', 'later-1', 'later-2']);
        // The lone statement first; the two that came meanwhile together, after it.
        if (TEST_DIALECT === 'postgres') expect(inserts.map((text) => text.startsWith('WITH unit AS'))).toEqual([true, false]);
      } finally {
        await locker?.end();
      }
    });

    /** A write's promise settles a turn before its transaction's end is noted: the replica is idle from the next turn. */
    const idle = () => new Promise((r) => setImmediate(r));
    /** A worker's claim long-polling in the service, and how to end it. */
    const waitingClaim = async (queues?: string[]) => {
      const workers = t.app.get(WorkersService);
      const { id } = await workers.register({ hostname: 'test', pid: process.pid, concurrency: 1 });
      const hangUp = new AbortController();
      const handoff = t.app.get(ClaimHandoff);
      const before = handoff.waitingClaims();
      const answer = workers.claim(id, 1, 30_000, hangUp.signal, queues);
      for (let i = 0; i < 200 && handoff.waitingClaims() === before; i++) await new Promise((r) => setTimeout(r, 10));
      expect(handoff.waitingClaims()).toBe(before + 1);
      await idle();
      const end = () => (hangUp.abort(), answer);
      claims.push(end);
      return { id, answer, end };
    };
    /** Claims a failed test left waiting end before the service closes. */
    const claims: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const end of claims.splice(0)) await end().catch(() => undefined);
    });
    const attemptsOf = (id: string) => db.rows<{ run: number; attempt: number; worker_id: string }>('SELECT run, attempt, worker_id FROM job_attempts WHERE job_id = ? ORDER BY run', [id]);
    const counts = async () =>
      // On PostgreSQL the counts are rows per writing backend, summed.
      Object.fromEntries((await db.rows<{ state: string; n: number }>('SELECT state, SUM(n) AS n FROM job_counts GROUP BY state')).filter((r) => Number(r.n) !== 0).map((r) => [r.state, Number(r.n)]));

    it('goes to the claim waiting longest as that claim would have taken it; on PostgreSQL by one statement that also opens its run', async () => {
      const service = t.app.get(JobsService);
      await db.write((sql) => t.app.get(QueuesRepository).upsert(sql, 'slow', { max_retries: 2, job_timeout: 77 }, clock.now()));
      const first = await waitingClaim();
      const second = await waitingClaim(['slow']);
      const { value, inserts } = await jobInsertsDuring(() => service.enqueue({ id: 'handed', command: 'true', queue: 'slow' } as EnqueueJobDto));
      // Answered as enqueued, as when the usual unit hands a job over.
      expect(value).toMatchObject({ id: 'handed', state: 'pending', max_retries: 2 });
      const answer = await first.answer;
      expect(answer.jobs).toEqual([expect.objectContaining({ id: 'handed', attempt: 1, max_retries: 2, timeout_seconds: 77, queue: 'slow' })]);
      const lease = answer.jobs[0].lease;
      const [row] = await stored();
      expect(row).toMatchObject({ id: 'handed', state: 'processing', worker_id: first.id, lease_expires_at: expect.anything() });
      expect([Number(row.attempts), Number(row.lease), Number(row.started_at)]).toEqual([1, lease, clock.now()]);
      expect((await attemptsOf('handed')).map((a) => [Number(a.run), Number(a.attempt), a.worker_id])).toEqual([[lease, 1, first.id]]);
      expect(await counts()).toEqual({ processing: 1 });
      if (TEST_DIALECT === 'postgres') {
        expect(inserts).toHaveLength(1);
        expect(inserts[0]).toMatch(/^WITH unit AS \(INSERT INTO jobs .*'processing'.*\), opened AS \(INSERT INTO job_attempts/s);
      }
      // The other claim was offered nothing and waits on.
      expect(t.app.get(ClaimHandoff).anyWaiting()).toBe(true);
      expect((await second.end()).jobs).toEqual([]);

      // Its worker vanishes: the run is recovered as any claimed one, by its lease and its attempt's row.
      const leaseMs = t.app.get(ConfigService).get('lease-timeout') * 1000;
      clock.advance(leaseMs + leaseBudget(leaseMs).reapGraceMs + 1);
      expect(await t.app.get(LeaseReaper).sweep()).toBe(1);
      expect((await stored())[0]).toMatchObject({ state: 'failed', last_error: 'worker lost' });
      const [run] = await db.rows<{ finished_at: number | null; error: string | null }>('SELECT finished_at, error FROM job_attempts WHERE job_id = ?', ['handed']);
      expect([Number(run.finished_at), run.error]).toEqual([clock.now(), 'worker lost']);
    });

    it('goes the usual way, claimed by the usual rules, when it is not due, another job is, or its queue is paused or limited', async () => {
      const service = t.app.get(JobsService);
      const queues = t.app.get(QueuesRepository);
      await db.write((sql) => queues.upsert(sql, 'limited', { concurrency: 1 }, clock.now()));
      await db.write((sql) => queues.upsert(sql, 'held', { paused: 1 }, clock.now()));
      const handoff = t.app.get(ClaimHandoff);
      const statementsFor = async (job: Partial<EnqueueJobDto>) => {
        // A job that was not taken wakes the claim, which claims again: it waits again before the next job.
        for (let i = 0; i < 200 && !(handoff.waitingClaims() === 1 && db.writesIdle); i++) await new Promise((r) => setTimeout(r, 10));
        await idle();
        const { inserts } = await jobInsertsDuring(() => service.enqueue({ command: 'true', ...job } as EnqueueJobDto));
        return inserts.map((text) => (text.startsWith('WITH unit AS') ? 'alone' : 'unit'));
      };
      const viaUnit = TEST_DIALECT === 'postgres' ? ['alone', 'unit'] : [];

      // A limited queue with room: the statement stores nothing, the unit's claim takes the job.
      let claim = await waitingClaim();
      expect(await statementsFor({ id: 'limited-1', queue: 'limited' })).toEqual(viaUnit);
      expect((await claim.answer).jobs.map((j) => j.id)).toEqual(['limited-1']);

      // Not due yet, or in a paused queue: nobody takes it.
      claim = await waitingClaim();
      expect(await statementsFor({ id: 'later', run_at: new Date(clock.now() + 60_000).toISOString() })).toEqual(viaUnit);
      expect(await statementsFor({ id: 'held-1', queue: 'held' })).toEqual(viaUnit);

      // Another job is due (held-1, in its paused queue): the claim's own rules decide, in the unit.
      expect(await statementsFor({ id: 'free-1' })).toEqual(viaUnit);
      expect((await claim.answer).jobs.map((j) => j.id)).toEqual(['free-1']);
      const states = Object.fromEntries((await stored()).map((r) => [r.id, r.state]));
      expect(states).toEqual({ 'limited-1': 'processing', later: 'pending', 'held-1': 'pending', 'free-1': 'processing' });
      expect(await counts()).toEqual({ processing: 2, pending: 2 });
    });

    it('answers a taken id as such and changes nothing, whichever way the job went', async () => {
      const service = t.app.get(JobsService);
      await service.enqueue({ id: 'taken', command: 'echo first' } as EnqueueJobDto);
      const { value: refused, inserts } = await jobInsertsDuring(() => service.enqueue({ id: 'taken', command: 'echo second' } as EnqueueJobDto).catch((e: unknown) => e));
      expect(refused).toBeInstanceOf(DuplicateJob);
      // On PostgreSQL the statement of its own stored nothing, and the usual unit found the id taken.
      if (TEST_DIALECT === 'postgres') expect(inserts.map((text) => text.startsWith('WITH unit AS'))).toEqual([true, false]);
      expect((refused as DuplicateJob).message).toBe('a job with id "taken" already exists');
      expect((await stored()).map((r) => [r.id, r.command])).toEqual([['taken', 'echo first']]);
      expect(await pending()).toBe(1);
    });
  });
});
