import { SqlDatabase } from '../src/database/sql';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { http } from './support/api-helpers';
import { newJob } from './support/new-job';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Search by part of a command scans a bounded window of rows per page, so a page costs the
 * same at any table size; paging on must still find every match exactly once.
 */
describe('searching a large table', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
    const repo = t.app.get(JobsRepository);
    const db = t.app.get(SqlDatabase);
    const job = (id: string, command: string) => newJob(id, { command });
    // Oldest first: three needles, then 45,000 others, then one needle among the newest.
    const jobs = [job('needle-1', 'echo needle one'), job('needle-2', 'echo NEEDLE_two'), job('needle-3', 'echo needle three')];
    for (let i = 0; i < 45_000; i++) jobs.push(job(`hay-${i}`, `echo hay ${i}`));
    jobs.push(job('needle-4', 'echo needle four'));
    await db.write((sql) => repo.insert(sql, jobs, Date.now()));
  });
  afterAll(() => t.close());

  async function allPages(query: string): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const res: { body: { jobs: Array<{ id: string }>; next_cursor: number | null } } = await http(t)
        .get(`/api/jobs?${query}&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        .set(t.auth)
        .expect(200);
      ids.push(...res.body.jobs.map((j: { id: string }) => j.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor !== null && pages < 100);
    return { ids, pages };
  }

  it('finds every match across windows, newest first, each once', async () => {
    const { ids, pages } = await allPages('q=needle');
    // LIKE ignores ASCII case, so NEEDLE_two matches too.
    expect(ids).toEqual(['needle-4', 'needle-3', 'needle-2', 'needle-1']);
    // Matches sit 45,000 rows apart: the scan had to continue past empty windows.
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('takes % and _ literally', async () => {
    expect((await allPages('q=NEEDLE_')).ids).toEqual(['needle-2']);
    expect((await allPages('q=%25needle')).ids).toEqual([]);
  });

  it('puts an exact id match first, once, even when it is old', async () => {
    const { ids } = await allPages('q=needle-1');
    expect(ids).toEqual(['needle-1']);
    const first = await http(t).get('/api/jobs?q=hay-7&limit=3').set(t.auth).expect(200);
    expect(first.body.jobs[0].id).toBe('hay-7');
    expect(first.body.jobs.filter((j: { id: string }) => j.id === 'hay-7')).toHaveLength(1);
  });

  it('a search with no match ends', async () => {
    const { ids, pages } = await allPages('q=no-such-thing');
    expect(ids).toEqual([]);
    expect(pages).toBeLessThanOrEqual(4);
  });
});
