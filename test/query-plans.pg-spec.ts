import type { Sql } from '../src/database/sql';
import { SqlDatabase } from '../src/database/sql';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { JobDependenciesRepository } from '../src/jobs/job-dependencies.repository';
import { plansOf as recordedPlans } from './support/plans';
import { newJob } from './support/new-job';
import { TestApp, createTestApp } from './support/test-app';

/**
 * The PostgreSQL counterpart of query-plans.e2e-spec.ts: the hot statements, as the repository
 * issues them on PostgreSQL (recorded, then explained with their parameters on the real schema
 * with a queue long enough that a scan would cost more than the index). The claim walks the
 * claim index in order and locks what it takes (LockRows, for FOR UPDATE SKIP LOCKED).
 */
describe('query plans of the hot statements on PostgreSQL', () => {
  let t: TestApp;
  let repo: JobsRepository;
  let db: SqlDatabase;
  const now = Date.now();

  beforeAll(async () => {
    t = await createTestApp();
    repo = t.app.get(JobsRepository);
    db = t.app.get(SqlDatabase);
    for (let b = 0; b < 4; b++) {
      const jobs = Array.from({ length: 5000 }, (_, i) => newJob(`p${b}-${i}`, { command: 'true', priority: i % 3 }));
      await db.write((sql) => repo.insert(sql, jobs, now));
    }
    await db.write((sql) => repo.claimNext(sql, 'w-plan', now, now + 30_000, 50));
    await db.run('ANALYZE');
  });
  afterAll(() => t.close());

  const plansOf = <R = JobsRepository>(call: (r: R, sql: Sql) => Promise<unknown>, repository?: new (db: SqlDatabase) => R) =>
    recordedPlans<R>(db, call, repository);

  it('claims by walking the claim index in order, locking the rows it takes, and updating by primary key', async () => {
    const [claim] = await plansOf((r, sql) => r.claimNext(sql, 'w', now, now + 30_000, 1));
    expect(claim).toMatch(/LockRows/);
    expect(claim).toMatch(/Index Scan using jobs_claimable on jobs/);
    expect(claim).not.toMatch(/Sort|Seq Scan on jobs/);
    expect(claim).toMatch(/Index Scan using jobs_pkey on jobs/);
  });

  it('finds expired leases, due times and the runs a report completes by their indexes', async () => {
    const [reaper] = await plansOf((r) => r.findExpiredLeases(now, 500));
    expect(reaper).toMatch(/Index Scan using jobs_lease_expiry on jobs/);
    const [due] = await plansOf((r) => r.nextDueAt());
    expect(due).toMatch(/Index (Only )?Scan using jobs_due on jobs/);
    const [complete] = await plansOf((r, sql) => r.completeRuns(sql, [{ id: 'p0-1', lease: 1 }], now));
    expect(complete).toMatch(/Index Scan using jobs_pkey on jobs/);
    // The same statement closes the runs' attempts (a table this small is read whole; the
    // attempts are matched on their key, job and run).
    expect(complete).toMatch(/Update on job_attempts/);
    expect(complete).toMatch(/\(a\.job_id\)::text = .*a\.run = /);
  });

  it('dependencies: the jobs waiting on a finished one are found without reading the jobs table', async () => {
    const plans = [
      ...(await plansOf((r, sql) => r.release(sql, ['p1', 'p2'], now), JobDependenciesRepository)),
      ...(await plansOf((r, sql) => r.killDependents(sql, ['p1'], now), JobDependenciesRepository)),
      ...(await plansOf((r, sql) => r.reblock(sql, ['p1']), JobDependenciesRepository)),
    ];
    expect(plans).toHaveLength(3);
    // job_dependencies is empty here, and PostgreSQL reads an empty table whole; the jobs are
    // found by key or through an index.
    for (const plan of plans) expect(plan).not.toMatch(/Seq Scan on jobs/);
  });
});
