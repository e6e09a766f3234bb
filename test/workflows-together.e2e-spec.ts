import { SqlDatabase } from '../src/database/sql';
import { SchedulesService } from '../src/schedules/schedules.service';
import { expectError, http, snapshot } from './support/api-helpers';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Named queues, job flows, schedules and idempotent enqueue used together: a schedule's template
 * and an idempotent request go through the same checks and defaults as a plain enqueue.
 */
describe('queues, flows, schedules and idempotency together', () => {
  let t: TestApp;
  let clock: ManualClock;
  const START = Date.UTC(2030, 0, 2, 3, 4, 0);

  beforeEach(async () => {
    clock = new ManualClock(START);
    t = await createTestApp({ clock });
  });
  afterEach(() => t.close());

  const api = () => http(t);

  it("a schedule's tick goes to its queue, runs where its template says, and takes the queue's max-retries", async () => {
    await api().patch('/api/queues/reports').set(t.auth).send({ max_retries: 7 }).expect(200);
    const job = { command: 'make report', queue: 'reports', cwd: '/srv/reports', env: { MODE: 'nightly' } };
    await api().post('/api/schedules').set(t.auth).send({ name: 'nightly', every_seconds: 60, job }).expect(201);
    clock.advance(60_000);
    // This pass or the ticker's own makes the tick: the ticker is woken by the schedule's change,
    // on PostgreSQL through a notification that may arrive after the clock moved. Either way the
    // tick goes in once (the list below holds exactly it).
    expect(await t.app.get(SchedulesService).tickDue()).toBeLessThanOrEqual(1);
    const tick = (await api().get(`/api/jobs/nightly:${START + 60_000}`).set(t.auth).expect(200)).body;
    expect(tick).toMatchObject({ queue: 'reports', cwd: '/srv/reports', env: { MODE: 'nightly' }, max_retries: 7, state: 'pending' });
    const listed = (await api().get('/api/jobs?queue=reports').set(t.auth).expect(200)).body.jobs.map((j: { id: string }) => j.id);
    expect(listed).toEqual([tick.id]);
  });

  it('a schedule whose template names a queue that cannot exist is refused when added, changing nothing', async () => {
    const before = await snapshot(t);
    expectError(await api().post('/api/schedules').set(t.auth).send({ name: 'bad', every_seconds: 60, job: { command: 'true', queue: 'no spaces allowed' } }), 400, 'invalid_input');
    expect(await snapshot(t)).toEqual(before);
  });

  it('an idempotent enqueue that waits on another job answers with what it waits on, the same the second time', async () => {
    await api().post('/api/jobs').set(t.auth).send({ id: 'build', command: 'make' }).expect(201);
    const body = { id: 'test', command: 'make test', queue: 'ci', after: ['build'] };
    const first = await api().post('/api/jobs').set(t.auth).set('Idempotency-Key', 'ci-1').send(body).expect(201);
    expect(first.body).toMatchObject({ id: 'test', queue: 'ci', state: 'pending', after: ['build'], waiting_on: ['build'] });
    const again = await api().post('/api/jobs').set(t.auth).set('Idempotency-Key', 'ci-1').send(body).expect(200);
    expect(again.body).toEqual(first.body);
    const edges = await t.app.get(SqlDatabase).rows<{ job_id: string; depends_on: string }>('SELECT job_id, depends_on FROM job_dependencies');
    expect(edges).toEqual([{ job_id: 'test', depends_on: 'build' }]);
  });

  it('an idempotent enqueue after an unknown job is 404, stores nothing, and the key stays free', async () => {
    const before = await snapshot(t);
    expectError(await api().post('/api/jobs').set(t.auth).set('Idempotency-Key', 'ci-2').send({ command: 'true', after: ['nope'] }), 404, 'not_found', /after: job "nope" not found/);
    expect(await snapshot(t)).toEqual(before);
    expect(await t.app.get(SqlDatabase).rows('SELECT key FROM idempotency_keys')).toEqual([]);
    await api().post('/api/jobs').set(t.auth).set('Idempotency-Key', 'ci-2').send({ command: 'true' }).expect(201);
  });

  it('an idempotent batch with a cycle is refused naming it', async () => {
    const jobs = [
      { id: 'a', command: 'true', after: ['b'] },
      { id: 'b', command: 'true', after: ['a'] },
    ];
    expectError(await api().post('/api/jobs/batch').set(t.auth).set('Idempotency-Key', 'cyc').send({ jobs }), 400, 'invalid_input', /cycle/);
  });
});
