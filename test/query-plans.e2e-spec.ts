import type { Sql } from '../src/database/sql';
import { SqlDatabase } from '../src/database/sql';
import { JobOutputRepository } from '../src/jobs/job-output.repository';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { JobDependenciesRepository } from '../src/jobs/job-dependencies.repository';
import { plansOf as recordedPlans } from './support/plans';
import { newJob } from './support/new-job';
import { TestApp, createTestApp } from './support/test-app';

/**
 * The hot statements keep their plans whatever the table holds: the repository is handed the
 * scale benchmark's statement recorder, and each statement it issues is explained on the real schema. A plan that reads
 * every waiting job or sorts them would make claiming slow down with the queue's length (it
 * did: 430 ms a claim at a million pending jobs).
 */

describe('query plans of the hot statements', () => {
  let t: TestApp;
  let repo: JobsRepository;
  let db: SqlDatabase;
  const now = Date.now();

  beforeAll(async () => {
    t = await createTestApp();
    repo = t.app.get(JobsRepository);
    db = t.app.get(SqlDatabase);
    // No ANALYZE: the service never runs it, so these are the plans it gets.
    const jobs = Array.from({ length: 300 }, (_, i) => newJob(`p${i}`, { command: 'true', priority: i % 3 }));
    await db.write((sql) => repo.insert(sql, jobs, now));
    await db.write((sql) => repo.claimNext(sql, 'w-plan', now, now + 30_000, 50));
  });
  afterAll(() => t.close());

  const plansOf = <R = JobsRepository>(call: (r: R, sql: Sql) => Promise<unknown>, repository?: new (db: SqlDatabase) => R) =>
    recordedPlans<R>(db, call, repository);

  it('claims by searching the claim index a priority at a time from its first due job, and updating by primary key', async () => {
    const [claim] = await plansOf((r, sql) => r.claimNext(sql, 'w', now, now + 30_000, 1));
    // Each priority read from its first due job on (jobs not yet due above them are never read),
    // the priorities found by searching for the next lower one.
    expect(claim).toContain('SEARCH jobs USING INDEX jobs_claimable (priority=? AND due_at<?)');
    expect(claim).toContain('SEARCH jobs USING INDEX jobs_claimable (priority<?)');
    expect(claim).toMatch(/SEARCH jobs USING (INDEX sqlite_autoindex_jobs_1|PRIMARY KEY) \(id=\?\)/);
    // The one scan is the highest priority's, which stops at the first row.
    expect(claim.match(/SCAN jobs\b[^|]*/g)).toEqual(['SCAN jobs USING INDEX jobs_claimable ']);
    expect(claim).not.toContain('TEMP B-TREE');
    expect(claim).not.toContain('jobs_state_seq');
  });

  it.each([
    ['nextDueAt', (r: JobsRepository) => r.nextDueAt()],
    ['oldestDueAt', (r: JobsRepository) => r.oldestDueAt(now)],
  ])('%s reads the due index, not the waiting jobs', async (_name, call) => {
    const [plan] = await plansOf(call);
    expect(plan).toContain('jobs_due');
    expect(plan).not.toContain('TEMP B-TREE');
  });

  it('the reaper reads the lease index', async () => {
    const [plan] = await plansOf((r) => r.findExpiredLeases(now, 100));
    expect(plan).toContain('jobs_lease_expiry');
    expect(plan).not.toContain('TEMP B-TREE');
  });

  it("output: appending, reading from an offset and walking back for a tail find a run's chunks by key", async () => {
    const plans = [
      ...(await plansOf((r, sql) => r.appendOutput(sql, 'p1', 1, 4096, Buffer.from('chunk'), 1 << 20, false), JobOutputRepository)),
      ...(await plansOf((r) => r.outputState('p1', 1), JobOutputRepository)),
      ...(await plansOf((r) => r.outputRange('p1', 1, 4096, 8192), JobOutputRepository)),
      ...(await plansOf((r) => r.outputChunksBefore('p1', 1, 8192, 32), JobOutputRepository)),
    ];
    expect(plans).toHaveLength(5);
    for (const plan of plans) {
      expect(plan).toMatch(/SEARCH (job_attempts|job_output) USING (INDEX sqlite_autoindex_\w+|PRIMARY KEY) \(job_id=\? AND run=\?/);
      expect(plan).not.toMatch(/SCAN|TEMP B-TREE/);
    }
    // The range and the tail walk narrow by byte offset within the run, in key order.
    expect(plans[3]).toMatch(/byte_offset[<>]\?/);
    expect(plans[4]).toMatch(/byte_offset<\?/);
  });

  it('status reads the counts table and listing walks an index in order', async () => {
    expect((await plansOf((r) => r.countByState()))[0]).toContain('job_counts');
    for (const plan of [
      ...(await plansOf((r) => r.list({ limit: 50 }))),
      ...(await plansOf((r) => r.list({ state: 'pending', limit: 50, beforeSeq: 100 }))),
    ]) {
      expect(plan).toMatch(/USING (COVERING )?INDEX (jobs_seq|jobs_state_seq)/);
      expect(plan).not.toContain('TEMP B-TREE');
    }
  });

  it("completing runs finds them by key, and whether others wait on them through job_dependencies_depends_on", async () => {
    const [complete] = await plansOf((r, sql) => r.completeRunsFollowed(sql, [{ id: 'p1', lease: 1 }], now));
    expect(complete).toMatch(/SEARCH jobs USING (INDEX sqlite_autoindex_jobs_1|PRIMARY KEY) \(id=\?\)/);
    expect(complete).toContain('job_dependencies_depends_on');
    expect(complete).not.toMatch(/SCAN jobs\b|SCAN job_dependencies\b/);
  });

  it('dependencies: the jobs waiting on a finished one are found through job_dependencies_depends_on, and updated by key', async () => {
    const plans = [
      ...(await plansOf((r, sql) => r.release(sql, ['p1', 'p2'], now), JobDependenciesRepository)),
      ...(await plansOf((r, sql) => r.killDependents(sql, ['p1'], now), JobDependenciesRepository)),
      ...(await plansOf((r, sql) => r.reblock(sql, ['p1']), JobDependenciesRepository)),
    ];
    expect(plans).toHaveLength(3);
    for (const plan of plans.slice(0, 2)) expect(plan).toContain('job_dependencies_depends_on');
    for (const plan of plans) {
      expect(plan).not.toMatch(/SCAN jobs\b|SCAN job_dependencies\b/);
      // By key, not a range of every pending job: through jobs_state_seq, a report that completed
      // one job read the whole backlog (222 ms a report at a million pending jobs).
      expect(plan).toMatch(/SEARCH jobs USING (INDEX sqlite_autoindex_jobs_1|PRIMARY KEY) \(id=\?\)/);
      expect(plan).not.toContain('jobs_state_seq');
    }
  });
});
