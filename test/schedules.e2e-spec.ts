import { Cron } from 'croner';
import { SqlDatabase } from '../src/database/sql';
import { SchedulesService } from '../src/schedules/schedules.service';
import { MAX_CATCH_UP_TICKS } from '../src/schedules/timetable';
import { expectError, http } from './support/api-helpers';
import { csrfOf, loggedInAgent } from './support/dashboard-client';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Schedules through the REST API on a clock the test moves: the ticks a pass enqueues (passes are
 * run by hand, as the ticker would after the time moved), catch-up after downtime, and refusals.
 */
describe('schedules', () => {
  let t: TestApp;
  let clock: ManualClock;
  // A whole minute, so interval ticks (multiples since the epoch) fall at known offsets from it.
  const START = Date.UTC(2030, 0, 2, 3, 4, 0);

  beforeEach(async () => {
    clock = new ManualClock(START);
    t = await createTestApp({ clock });
  });
  afterEach(() => t.close());

  const add = (body: Record<string, unknown>) => http(t).post('/api/schedules').set(t.auth).send(body);
  const pass = () => t.app.get(SchedulesService).tickDue();
  const jobIds = async () => (await t.app.get(SqlDatabase).rows<{ id: string }>('SELECT id FROM jobs ORDER BY id')).map((r) => r.id);
  const tickIds = (name: string, ...offsets: number[]) => offsets.map((ms) => `${name}:${START + ms}`).sort();

  it('an interval schedule enqueues one job per tick, with the id of the tick, and the job options of its template', async () => {
    const created = await add({ name: 'beat', every_seconds: 2, job: { command: 'echo beat', priority: 5, max_retries: 1, timeout_seconds: 9 } }).expect(201);
    expect(created.body).toMatchObject({ name: 'beat', every_seconds: 2, cron: null, catch_up: 'one', paused: false, next_run_at: new Date(START + 2000).toISOString() });
    expect(created.body.next_runs).toEqual([2, 4, 6, 8, 10].map((s) => new Date(START + s * 1000).toISOString()));
    for (let i = 1; i <= 3; i++) {
      clock.advance(2000);
      await pass();
      await pass(); // a second pass (or another replica's) at the same time adds nothing
    }
    expect(await jobIds()).toEqual(tickIds('beat', 2000, 4000, 6000));
    const job = (await http(t).get(`/api/jobs/beat:${START + 2000}`).set(t.auth).expect(200)).body;
    expect(job).toMatchObject({ command: 'echo beat', priority: 5, max_retries: 1, timeout_seconds: 9, state: 'pending' });
    const shown = (await http(t).get('/api/schedules/beat').set(t.auth).expect(200)).body;
    expect(shown).toMatchObject({ last_run_at: new Date(START + 6000).toISOString(), last_job_id: `beat:${START + 6000}`, next_run_at: new Date(START + 8000).toISOString() });
  });

  it('passes running at once enqueue each tick once', async () => {
    await add({ name: 'race', every_seconds: 1, job: { command: 'true' } }).expect(201);
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await Promise.all([pass(), pass(), pass()]);
    }
    expect(await jobIds()).toEqual(tickIds('race', 1000, 2000, 3000, 4000, 5000));
  });

  it("a cron schedule's next times are croner's, in its time zone", async () => {
    const body = (await add({ name: 'berlin', cron: '30 9 * * 1-5', timezone: 'Europe/Berlin', job: { command: 'true' } }).expect(201)).body;
    const expected = new Cron('30 9 * * 1-5', { timezone: 'Europe/Berlin' }).nextRuns(5, new Date(START)).map((d) => d.toISOString());
    expect(body.next_runs).toEqual(expected);
    expect(body.next_run_at).toBe(expected[0]);
    const listed = (await http(t).get('/api/schedules').set(t.auth).expect(200)).body.schedules;
    expect(listed.map((s: { name: string; next_runs: string[] }) => [s.name, s.next_runs])).toEqual([['berlin', expected]]);
  });

  describe('after downtime of three ticks', () => {
    const downtime = async (catchUp: string) => {
      await add({ name: 'nightly', every_seconds: 60, catch_up: catchUp, job: { command: 'true' } }).expect(201);
      clock.advance(60_000);
      await pass(); // the tick at 1 min
      clock.advance(3 * 60_000 + 10_000); // down through the ticks at 2, 3 and 4 min
      await pass();
      return jobIds();
    };

    it('catch-up one (the default) enqueues the latest missed tick alone', async () => {
      expect(await downtime('one')).toEqual(tickIds('nightly', 60_000, 240_000));
    });

    it('catch-up all enqueues every missed tick', async () => {
      expect(await downtime('all')).toEqual(tickIds('nightly', 60_000, 120_000, 180_000, 240_000));
    });

    it('catch-up none enqueues none of them, and goes on with the next tick', async () => {
      expect(await downtime('none')).toEqual(tickIds('nightly', 60_000));
      clock.advance(50_000);
      await pass();
      expect(await jobIds()).toEqual(tickIds('nightly', 60_000, 300_000));
    });

    it(`catch-up all enqueues the latest ${MAX_CATCH_UP_TICKS} of a longer downtime`, async () => {
      await add({ name: 'often', every_seconds: 1, catch_up: 'all', job: { command: 'true' } }).expect(201);
      clock.advance(500_000);
      await pass();
      const ids = await jobIds();
      expect(ids).toHaveLength(MAX_CATCH_UP_TICKS);
      expect(ids).toContain(`often:${START + 500_000}`);
      expect(ids).not.toContain(`often:${START + 400_000}`);
    });
  });

  it('pause holds the ticks, resume goes on from the next one, run enqueues one now, remove keeps the jobs', async () => {
    await add({ name: 'p', every_seconds: 10, job: { command: 'true' } }).expect(201);
    expect((await http(t).post('/api/schedules/p/pause').set(t.auth).expect(200)).body).toMatchObject({ paused: true, next_run_at: null, next_runs: [] });
    clock.advance(35_000);
    await pass();
    expect(await jobIds()).toEqual([]);
    const resumed = (await http(t).post('/api/schedules/p/resume').set(t.auth).expect(200)).body;
    expect(resumed).toMatchObject({ paused: false, next_run_at: new Date(START + 40_000).toISOString() });
    await pass();
    expect(await jobIds()).toEqual([]);
    const run = (await http(t).post('/api/schedules/p/run').set(t.auth).expect(201)).body;
    expect(run).toMatchObject({ command: 'true', state: 'pending' });
    expect(run.id).toMatch(/^p:run-[0-9a-z]{9}[A-Za-z0-9_-]{8}$/);
    clock.advance(5000);
    await pass();
    expect(await jobIds()).toEqual([run.id, `p:${START + 40_000}`].sort());
    expect((await http(t).delete('/api/schedules/p').set(t.auth).expect(200)).body.name).toBe('p');
    await http(t).get('/api/schedules/p').set(t.auth).expect(404);
    clock.advance(10_000);
    await pass();
    expect(await jobIds()).toHaveLength(2);
  });

  describe('refusals: one line, nothing changed', () => {
    const schedules = () => t.app.get(SqlDatabase).rows('SELECT * FROM schedules ORDER BY name');

    it('refuses bad input (bad cron, unknown zone, bad interval, bad name or job) with one line, changing nothing', async () => {
      await add({ name: 'kept', every_seconds: 60, job: { command: 'true' } }).expect(201);
      const before = await schedules();
      const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ name: 'x', cron: '61 * * * *', job: { command: 'true' } }, 'invalid_input', /cron expression "61 \* \* \* \*" is not valid/],
      [{ name: 'x', cron: '0 9 * * *', timezone: 'Mars/Olympus', job: { command: 'true' } }, 'invalid_input', /unknown time zone "Mars\/Olympus"/],
      [{ name: 'x', every_seconds: 0, job: { command: 'true' } }, 'invalid_input', /every_seconds must be at least 1/],
      [{ name: 'x', every_seconds: 1.5, job: { command: 'true' } }, 'invalid_input', /every_seconds must be a whole number/],
      [{ name: 'x', job: { command: 'true' } }, 'invalid_input', /give either cron or every_seconds/],
      [{ name: 'x', cron: '* * * * *', every_seconds: 5, job: { command: 'true' } }, 'invalid_input', /give either cron or every_seconds/],
      [{ name: 'x', every_seconds: 5, timezone: 'UTC', job: { command: 'true' } }, 'invalid_input', /timezone goes with cron/],
      [{ name: 'a:b', every_seconds: 5, job: { command: 'true' } }, 'invalid_input', /name must be 1–100 characters/],
      [{ name: 'x', every_seconds: 5, catch_up: 'some', job: { command: 'true' } }, 'invalid_input', /catch_up must be one of none, one, all/],
      [{ name: 'x', every_seconds: 5, job: { command: ' ' } }, 'invalid_input', /job.command: command must not be blank/],
      [{ name: 'x', every_seconds: 5, job: { command: 'true', id: 'fixed' } }, 'invalid_input', /job.id cannot be given/],
      [{ name: 'x', every_seconds: 5, job: { command: 'true', run_at: '2030-01-01T00:00:00Z' } }, 'invalid_input', /job.run_at cannot be given/],
      [{ name: 'x', every_seconds: 5, job: { command: 'true', colour: 'red' } }, 'invalid_input', /unknown field "job.colour"/],
      ];
      for (const [body, code, message] of cases) {
        const res = await add(body);
        expect([body, res.status]).toEqual([body, 400]);
        expectError(res, 400, code, message);
      }
      expect(await schedules()).toEqual(before);
    });

    it('a duplicate name is 409 and the first schedule stays as it was', async () => {
      await add({ name: 'dup', every_seconds: 60, job: { command: 'first' } }).expect(201);
      const before = await schedules();
      expectError(await add({ name: 'dup', cron: '* * * * *', job: { command: 'second' } }), 409, 'duplicate_schedule', /a schedule named "dup" already exists/);
      expect(await schedules()).toEqual(before);
    });

    it('an unknown name is 404 on every route', async () => {
      for (const [method, path] of [
        ['get', '/api/schedules/nope'],
        ['delete', '/api/schedules/nope'],
        ['post', '/api/schedules/nope/pause'],
        ['post', '/api/schedules/nope/resume'],
        ['post', '/api/schedules/nope/run'],
      ] as const) {
        expectError(await http(t)[method](path).set(t.auth), 404, 'not_found', /schedule "nope" not found/);
      }
      expect(await jobIds()).toEqual([]);
    });
  });

  describe('dashboard', () => {
    it('lists schedules with their next runs and last job, and pauses, resumes, runs now and removes them', async () => {
      await add({ name: 'page-beat', every_seconds: 30, job: { command: 'echo <b>beat</b>' } }).expect(201);
      await add({ name: 'page-cron', cron: '0 9 * * *', timezone: 'Europe/Berlin', job: { command: 'true' } }).expect(201);
      clock.advance(30_000);
      await pass();
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      const page = await agent.get('/schedules').expect(200);
      expect(page.text).toContain('<a href="/schedules" aria-current="page">Schedules</a>');
      expect(page.text).toContain('echo &lt;b&gt;beat&lt;/b&gt;');
      expect(page.text).toContain(`<time datetime="${new Date(START + 60_000).toISOString()}"`);
      expect(page.text).toContain(`/jobs/page-beat%3A${START + 30_000}`);
      expect(page.text).toContain('0 9 * * * (Europe/Berlin)');
      const fragment = await agent.get('/fragments/schedules').expect(200);
      expect(fragment.text).not.toContain('<html');
      expect(fragment.text).toContain('data-schedule="page-cron"');

      // Without the session's CSRF token nothing is done.
      for (const action of ['pause', 'run', 'remove']) {
        await agent.post(`/schedules/page-beat/${action}`).type('form').send({}).expect(403);
      }
      expect((await http(t).get('/api/schedules/page-beat').set(t.auth)).body.paused).toBe(false);
      expect(await jobIds()).toHaveLength(1);

      await agent.post('/schedules/page-beat/pause').type('form').send({ _csrf: csrf }).expect(303).expect('location', '/schedules');
      expect((await agent.get('/schedules')).text).toMatch(/data-schedule="page-beat"[\s\S]*data-paused[\s\S]*Resume/);
      await agent.post('/schedules/page-beat/resume').type('form').send({ _csrf: csrf }).expect(303);
      expect((await http(t).get('/api/schedules/page-beat').set(t.auth)).body.paused).toBe(false);
      await agent.post('/schedules/page-beat/run').type('form').send({ _csrf: csrfOf((await agent.get('/schedules')).text) }).expect(303);
      expect(await jobIds()).toHaveLength(2);
      await agent.post('/schedules/page-beat/remove').type('form').send({ _csrf: csrf }).expect(303);
      const after = await agent.get('/schedules');
      expect(after.text).toContain('Removed page-beat; the jobs it enqueued stay.');
      expect(after.text).not.toContain('data-schedule="page-beat"');
      const missing = await agent.post('/schedules/page-beat/pause').type('form').send({ _csrf: csrf });
      expect(missing.status).toBe(404);
      expect(missing.text).toContain('schedule &quot;page-beat&quot; not found');
    });
  });
});
