import type { Sql } from '../src/database/sql';
import { SqlDatabase } from '../src/database/sql';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { QueueRow } from '../src/queues/queue.entity';
import { QueuesRepository } from '../src/queues/queues.repository';
import { TEST_DIALECT } from './support/database';
import { plansOf as recordedPlans } from './support/plans';
import { newJob } from './support/new-job';
import { TestApp, createTestApp } from './support/test-app';

/**
 * The plans of the named-queue statements (on the dialect under test): a claim restricted by
 * pauses and limits reads each queue's own index range for its slots; the skip scan that finds
 * the queues with jobs, their heads, the counts per queue and `list --queue` are index probes and
 * range reads. None sorts or scans the jobs.
 */
describe('query plans of named queues', () => {
  let t: TestApp;
  let db: SqlDatabase;
  const now = Date.now();
  const limited: QueueRow = { name: 'q1', paused: 0, concurrency: 2, max_retries: null, backoff_base: null, backoff_max: null, job_timeout: null, created_at: now, updated_at: now };

  beforeAll(async () => {
    t = await createTestApp();
    db = t.app.get(SqlDatabase);
    const repo = t.app.get(JobsRepository);
    for (let b = 0; b < 4; b++) {
      const jobs = Array.from({ length: 5000 }, (_, i) => newJob(`p${b}-${i}`, { command: 'true', priority: i % 3, queue: `q${i % 20}` }));
      await db.write((sql) => repo.insert(sql, jobs, now));
    }
    await db.write((sql) => repo.claimNext(sql, 'w-plan', now, now + 30_000, 50));
    if (TEST_DIALECT === 'postgres') await db.run('ANALYZE');
  });
  afterAll(() => t.close());

  const plansOf = <R = JobsRepository>(call: (r: R, sql: Sql) => Promise<unknown>, repository?: new (db: SqlDatabase) => R) =>
    recordedPlans<R>(db, call, repository);
  const noScanOrSort = (plan: string) => {
    if (process.env.SHOW_PLANS) process.stdout.write(`${plan}\n`);
    expect(plan).not.toMatch(TEST_DIALECT === 'postgres' ? /Seq Scan on jobs|Sort Key: jobs\./ : /SCAN jobs(?! USING)/);
  };

  it('a restricted claim: each queue its own range of the queue claim index, rows by primary key', async () => {
    const scope = { takes: [{ queue: 'q0', slots: 4 }, { queue: 'q1', slots: 2 }] };
    const [claim] = await plansOf((r, sql) => r.claimNext(sql, 'w', now, now + 30_000, 4, scope));
    if (TEST_DIALECT === 'postgres') {
      expect(claim).toMatch(/Index Scan using jobs_queue_claimable on jobs/);
      expect(claim).toMatch(/LockRows/);
      expect(claim).toMatch(/Index Scan using jobs_pkey on jobs/);
    } else {
      expect(claim).toMatch(/USING INDEX jobs_queue_claimable \(queue=\?/);
      // Each queue's priorities read from their first due job on, found one by one (claimLevels).
      expect(claim).toContain('SEARCH jobs USING INDEX jobs_queue_claimable (queue=? AND priority=? AND due_at<?)');
      expect(claim).toContain('SEARCH jobs USING INDEX jobs_queue_claimable (queue=? AND priority<?)');
      expect(claim).not.toContain('jobs_claimable ');
      expect(claim).toMatch(/SEARCH jobs USING (INDEX sqlite_autoindex_jobs_1|PRIMARY KEY) \(id=\?\)/);
    }
    noScanOrSort(claim);
  });

  it('the skip scan for queues with jobs, their heads, counts per queue and list --queue read index ranges', async () => {
    // Every statement of a claim's scope (the skip scan, the limited queues' running counts, the
    // heads) reads an index range; the skip scan and the heads read the queue claim index.
    const scoped = await plansOf((r, sql) => r.claimScope(sql, new Map([['q1', limited]]), undefined, now, 4), QueuesRepository);
    expect(scoped[0]).toMatch(/jobs_queue_claimable/);
    scoped.forEach(noScanOrSort);
    const served = await plansOf((r, sql) => r.claimScope(sql, new Map([['q1', limited]]), ['q1', 'q2'], now, 4), QueuesRepository);
    expect(served.filter((p) => /jobs_queue_claimable/.test(p)).length).toBeGreaterThan(0);
    expect(served.filter((p) => /jobs_queue_state_seq/.test(p)).length).toBeGreaterThan(0);
    served.forEach(noScanOrSort);
    const [counts] = await plansOf((r) => r.countsByQueue('q3'), QueuesRepository);
    expect(counts).toMatch(/jobs_queue_state_seq/);
    noScanOrSort(counts);
    const [page] = await plansOf((r) => r.list({ queue: 'q3', state: 'pending', limit: 50 }));
    // PostgreSQL may as well walk jobs_seq backwards, filtering, when its statistics say the queue is common.
    expect(page).toMatch(TEST_DIALECT === 'postgres' ? /jobs_queue_state_seq|Index Scan Backward using jobs_seq/ : /jobs_queue_state_seq/);
    noScanOrSort(page);
  });
});
