import { JobRunsService } from '../src/jobs/job-runs.service';
import { JobsService } from '../src/jobs/jobs.service';
import { QueuesService } from '../src/queues/queues.service';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Which jobs a claim takes once queues are paused, limited or served by name, in process (no
 * worker processes): the claim's own decisions, claim by claim.
 */
describe('claims within queue pauses, limits and served queues', () => {
  let t: TestApp;
  let runs: JobRunsService;
  let jobs: JobsService;
  let queues: QueuesService;
  beforeEach(async () => {
    t = await createTestApp();
    runs = t.app.get(JobRunsService);
    jobs = t.app.get(JobsService);
    queues = t.app.get(QueuesService);
  });
  afterEach(() => t.close());

  const add = (id: string, queue: string, priority = 0) => jobs.enqueue({ id, queue, command: 'true', priority });
  const claim = async (limit: number, served?: string[]) => (await runs.claim('w-test', limit, served)).map((j) => j.id).sort();

  it('a limited queue gives at most its free slots; the others fill the rest, in claim order', async () => {
    await queues.set('two', { concurrency: 2 });
    for (let i = 0; i < 4; i++) await add(`two-${i}`, 'two', 9);
    for (let i = 0; i < 4; i++) await add(`free-${i}`, 'free');
    expect(await claim(3)).toEqual(['free-0', 'two-0', 'two-1']);
    expect(await claim(3)).toEqual(['free-1', 'free-2', 'free-3']);
    expect(await claim(3)).toEqual([]);
    expect((await queues.show('two')).counts).toMatchObject({ processing: 2, pending: 2 });
  });

  it('a full queue first in claim order does not keep a one-slot claim from the others', async () => {
    await queues.set('full', { concurrency: 1 });
    for (let i = 0; i < 3; i++) await add(`full-${i}`, 'full', 5);
    await add('other', 'other');
    expect(await claim(1)).toEqual(['full-0']);
    expect(await claim(1)).toEqual(['other']);
    expect(await claim(1)).toEqual([]);
  });

  it('a paused queue gives nothing until resumed; a worker serving some queues gets only theirs', async () => {
    await queues.pause('held');
    await add('held-0', 'held', 5);
    await add('a-0', 'a');
    await add('b-0', 'b');
    expect(await claim(5, ['held', 'b'])).toEqual(['b-0']);
    expect(await claim(5)).toEqual(['a-0']);
    await queues.resume('held');
    expect(await claim(5, ['a'])).toEqual([]);
    expect(await claim(5, ['held'])).toEqual(['held-0']);
  });

  it('a limit raised, or lifted with 0, gives more at once', async () => {
    await queues.set('q', { concurrency: 1 });
    for (let i = 0; i < 4; i++) await add(`q-${i}`, 'q');
    expect(await claim(4)).toEqual(['q-0']);
    await queues.set('q', { concurrency: 2 });
    expect(await claim(4)).toEqual(['q-1']);
    await queues.set('q', { concurrency: 0 });
    expect(await claim(4)).toEqual(['q-2', 'q-3']);
  });
});
