import request from 'supertest';
import { SqlDatabase } from '../src/database/sql';
import { JobOutputRepository } from '../src/jobs/job-output.repository';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { WorkerSupervisor } from '../src/workers/worker-supervisor';
import { csrfOf, loggedInAgent } from './support/dashboard-client';
import { createTestApp, TestApp } from './support/test-app';

/** Every dashboard page and form through HTTP, against the real app on a temp SQLite file. */
describe('dashboard pages and forms', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());
  const api = (method: 'get' | 'post' | 'put', path: string) => http()[method](path).set(t.auth);
  const job = async (id: string) => (await api('get', `/api/jobs/${id}`)).body;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  describe('login', () => {
    it('sends every page to the login form until logged in, and refuses fragments', async () => {
      await http().get('/').expect(303).expect('location', '/login');
      await http().get('/jobs?state=dead').expect(303).expect('location', '/login?next=%2Fjobs%3Fstate%3Ddead');
      for (const path of ['/dlq', '/config', '/enqueue', '/workers', '/jobs/some-id']) await http().get(path).expect(303);
      await http().get('/fragments/overview').expect(401);
    });

    it('serves the login page with strict security headers and an HttpOnly, SameSite=Strict cookie', async () => {
      const res = await http().get('/login').expect(200);
      const csp = res.headers['content-security-policy'];
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|https?:/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      const cookie = String(res.headers['set-cookie']);
      expect(cookie).toMatch(/^queuectl_session=[^;]+;/);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      // Nothing on the page comes from outside the service.
      expect(res.text).not.toMatch(/(src|href)="(https?:)?\/\//);
    });

    it('refuses a wrong token with a message, and stays logged out', async () => {
      const agent = request.agent(t.app.getHttpServer());
      const form = await agent.get('/login').expect(200);
      const res = await agent.post('/login').type('form').send({ _csrf: csrfOf(form.text), token: 'not-the-token-at-all', next: '/' }).expect(401);
      expect(res.text).toContain('That token is not the token of this queue.');
      await agent.get('/').expect(303).expect('location', '/login');
    });

    it('refuses a login form without its CSRF token with a readable 403 page', async () => {
      const agent = request.agent(t.app.getHttpServer());
      await agent.get('/login').expect(200);
      const res = await agent.post('/login').type('form').send({ token: t.token }).expect(403);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.text).toContain('security token is missing or wrong');
      await agent.get('/').expect(303);
    });

    it('logs in with the right token to a new session, goes to `next`, and logs out', async () => {
      const agent = request.agent(t.app.getHttpServer());
      const form = await agent.get('/login?next=%2Fdlq').expect(200);
      const before = String(form.headers['set-cookie']).split(';')[0];
      const res = await agent.post('/login').type('form').send({ _csrf: csrfOf(form.text), token: t.token, next: '/dlq' }).expect(303);
      expect(res.headers.location).toBe('/dlq');
      const after = String(res.headers['set-cookie']).split(';')[0];
      expect(after).not.toBe(before);
      // The pre-login session id is worth nothing now.
      await http().get('/').set('Cookie', before).expect(303);
      const page = await agent.get('/').expect(200);
      expect(page.text).toContain('Overview');
      await agent.get('/login').expect(303).expect('location', '/');

      // An outside `next` is ignored.
      const agent2 = request.agent(t.app.getHttpServer());
      const form2 = await agent2.get('/login').expect(200);
      await agent2.post('/login').type('form').send({ _csrf: csrfOf(form2.text), token: t.token, next: '//evil.example/' }).expect(303).expect('location', '/');

      const out = await agent.post('/logout').type('form').send({ _csrf: csrfOf(page.text) }).expect(303).expect('location', '/login');
      // Logout takes the cookie from the browser (sessions are signed cookies kept by no server).
      expect(String(out.headers['set-cookie'])).toMatch(/^queuectl_session=;.*Expires=Thu, 01 Jan 1970/);
      await agent.get('/').expect(303);
    });

    it('refuses a forged session cookie', async () => {
      const { agent } = await loggedInAgent(t.app.getHttpServer(), t.token);
      const page = await agent.get('/').expect(200);
      expect(page.status).toBe(200);
      const forged = `queuectl_session=${'A'.repeat(32)}.${'B'.repeat(43)}`;
      await http().get('/').set('Cookie', forged).expect(303);
    });

    it('does not let a dashboard session into the API', async () => {
      const { agent } = await loggedInAgent(t.app.getHttpServer(), t.token);
      await agent.get('/api/jobs').expect(401);
      await agent.get('/metrics').expect(401);
    });
  });

  describe('pages', () => {
    it('renders every page and fragment for a logged-in user', async () => {
      const { agent } = await loggedInAgent(t.app.getHttpServer(), t.token);
      await api('post', '/api/jobs').send({ id: 'page-job', command: 'echo pages' }).expect(201);
      const pages: Array<[string, string]> = [
        ['/', 'Last hour'],
        ['/jobs', 'page-job'],
        ['/jobs/page-job', 'echo pages'],
        ['/enqueue', 'Enqueue a job'],
        ['/dlq', 'Dead letter queue'],
        ['/config', 'max-retries'],
        ['/fragments/overview', 'Jobs per state'],
        ['/fragments/jobs', 'page-job'],
        ['/fragments/jobs/page-job', 'echo pages'],
        ['/fragments/dlq', 'dead'],
        ['/workers', 'Start workers'],
        ['/fragments/workers', 'No worker is running.'],
      ];
      for (const [path, text] of pages) {
        const res = await agent.get(path);
        expect([path, res.status]).toEqual([path, 200]);
        expect(res.text).toContain(text);
        expect(res.headers['cache-control']).toBe('no-store');
        if (path.startsWith('/fragments/')) expect(res.text).not.toContain('<html');
      }
      await agent.get('/assets/app.css').expect(200).expect('content-type', /text\/css/);
      await agent.get('/assets/app.js').expect(200).expect('content-type', /javascript/);
    });

    it('shows a readable page for an unknown or malformed job id', async () => {
      const { agent } = await loggedInAgent(t.app.getHttpServer(), t.token);
      const missing = await agent.get('/jobs/no-such-job').expect(404);
      expect(missing.text).toContain('job &quot;no-such-job&quot; not found');
      expect(missing.headers['content-type']).toMatch(/text\/html/);
      const bad = await agent.get('/jobs/bad%20id').expect(400);
      expect(bad.text).toContain('is not a job id');
      const state = await agent.get('/jobs?state=sleeping').expect(400);
      expect(state.text).toContain('state must be one of');
    });

    it('shows counts, throughput and runs with exit code, duration, error and output', async () => {
      const { agent } = await loggedInAgent(t.app.getHttpServer(), t.token);
      await api('post', '/api/jobs').send({ id: 'ran-twice', command: 'sh -c "echo out; exit 3"', max_retries: 1, priority: 99 }).expect(201);
      const db = t.app.get(SqlDatabase);
      const repo = t.app.get(JobsRepository);
      // Two runs through the repository's own claim/report statements: one failure, one success.
      for (const exit of [3, 0]) {
        const [claimed] = await db.write((sql) => repo.claimNext(sql, 'w-dash', Date.now(), Date.now() + 30_000, 1));
        expect(claimed.id).toBe('ran-twice');
        const outcome = { exitCode: exit, error: exit === 0 ? null : `exit code ${exit}` };
        await db.write(async (sql) => {
          await t.app.get(JobOutputRepository).appendOutput(sql, claimed.id, claimed.lease, 0, Buffer.from(`run ${claimed.lease} says <hello> & bye\n`), 1_000_000, false);
          if (exit === 0) await repo.completeRuns(sql, [{ id: claimed.id, lease: claimed.lease }], Date.now());
          else await repo.scheduleRetry(sql, claimed.id, claimed.lease, Date.now(), Date.now(), outcome);
          await repo.finishAttempt(sql, claimed.id, claimed.lease, Date.now(), outcome);
        });
      }
      const page = await agent.get('/jobs/ran-twice').expect(200);
      expect(page.text).toContain('Runs (2)');
      expect(page.text).toContain('exit code 3');
      expect(page.text).toContain('run 1 says &lt;hello&gt; &amp; bye');
      expect(page.text).toContain('run 2 says &lt;hello&gt; &amp; bye');
      expect(page.text).toMatch(/data-fact="exit-code">0</);
      expect(page.text).toContain('data-live-stop');

      const overview = await agent.get('/').expect(200);
      expect(overview.text).toMatch(/data-figure="completed">1</);
      expect(overview.text).toMatch(/data-figure="failed">1</);
      expect(overview.text).toMatch(/<rect class="bar-completed"/);
      expect(overview.text).toMatch(/<rect class="bar-failed"/);
      const counts = (await api('get', '/api/status')).body.counts;
      expect(overview.text).toContain(`<span class="n">${counts.completed}</span><span class="label">completed</span>`);
    });

    it('filters by state, searches by id or command, and pages by cursor keeping the filter', async () => {
      const { agent } = await loggedInAgent(t.app.getHttpServer(), t.token);
      const jobs = Array.from({ length: 120 }, (_, i) => ({ id: `bulk-${String(i).padStart(3, '0')}`, command: `echo bulk ${i}` }));
      await api('post', '/api/jobs/batch').send({ jobs }).expect(201);

      const seen: string[] = [];
      let url: string | null = '/jobs?q=bulk';
      while (url) {
        const res: request.Response = await agent.get(url).expect(200);
        seen.push(...[...res.text.matchAll(/data-job="(bulk-\d+)"/g)].map((m) => m[1]));
        const older: string | undefined = /href="([^"]+)" rel="next"/.exec(res.text)?.[1].replace(/&amp;/g, '&').replace(/&#x3D;/g, '=');
        if (older) expect(older).toContain('q=bulk');
        url = older ?? null;
      }
      expect(seen).toHaveLength(120);
      expect(new Set(seen).size).toBe(120);
      expect(seen[0]).toBe('bulk-119');

      const one = await agent.get('/jobs?q=bulk-007').expect(200);
      expect([...one.text.matchAll(/data-job="([^"]+)"/g)].map((m) => m[1])).toEqual(['bulk-007']);
      const byCommand = await agent.get('/jobs?q=' + encodeURIComponent('echo bulk 11')).expect(200);
      expect([...byCommand.text.matchAll(/data-job="([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(['bulk-011', 'bulk-110', 'bulk-111', 'bulk-112', 'bulk-113', 'bulk-114', 'bulk-115', 'bulk-116', 'bulk-117', 'bulk-118', 'bulk-119']);

      const completed = await agent.get('/jobs?state=completed').expect(200);
      expect([...completed.text.matchAll(/data-job="([^"]+)"/g)].map((m) => m[1])).toEqual(['ran-twice']);
      expect(completed.text).toContain('<option value="completed" selected>');
      // The live part refreshes with the same filter.
      expect(completed.text).toMatch(/data-live="\/fragments\/jobs\?state&#x3D;completed"/);
      const none = await agent.get('/jobs?state=processing').expect(200);
      expect(none.text).toContain('No job matches this filter.');
    });

    it('shows output bytes legibly: escapes, NUL and bytes that are not UTF-8 as visible escapes, HTML escaped, the end of a long output by bytes', async () => {
      const { agent } = await loggedInAgent(t.app.getHttpServer(), t.token);
      await api('post', '/api/jobs').send({ id: 'odd-bytes', command: 'true', priority: 1000 }).expect(201);
      await api('post', '/api/jobs').send({ id: 'long-output', command: 'true', priority: 1000 }).expect(201);
      const db = t.app.get(SqlDatabase);
      const repo = t.app.get(JobsRepository);
      const output = t.app.get(JobOutputRepository);
      const claimed = await db.write((sql) => repo.claimNext(sql, 'w-dash', Date.now(), Date.now() + 30_000, 2));
      const lease = (id: string) => claimed.find((c) => c.id === id)!.lease;
      const odd = Buffer.concat([Buffer.from('\u001b[31mred\u001b[0m <b>bold</b> nul:'), Buffer.from([0, 0xff, 0xfe]), Buffer.from(' ok 🚀\n')]);
      // 70 KiB, more than the page shows: the last 64 KiB start in the middle of a 4-byte character.
      const rocket = Buffer.from('🚀');
      const long = Buffer.concat([Buffer.alloc(70 * 1024 - 64 * 1024 - 2, 'a'), rocket, Buffer.alloc(64 * 1024 - 2 - 5, 'b'), Buffer.from('end!\n')]);
      await db.write(async (sql) => {
        await output.appendOutput(sql, 'odd-bytes', lease('odd-bytes'), 0, odd, 1_000_000, false);
        await output.appendOutput(sql, 'long-output', lease('long-output'), 0, long, 1_000_000, false);
        await repo.completeRuns(sql, claimed.map((c) => ({ id: c.id, lease: c.lease })), Date.now());
      });
      const page = await agent.get('/jobs/odd-bytes').expect(200);
      const shown = /<pre class="output"[^>]*>([^<]*)<\/pre>/.exec(page.text)![1];
      expect(shown).toBe('\\x1b[31mred\\x1b[0m &lt;b&gt;bold&lt;/b&gt; nul:\\x00\\xff\\xfe ok 🚀\n');
      expect(page.text).not.toContain('\u001b');
      expect(page.text).not.toContain('\u0000');

      const longPage = await agent.get('/jobs/long-output').expect(200);
      const tail = /<pre class="output"[^>]*>([^<]*)<\/pre>/.exec(longPage.text)![1];
      // 64 KiB from the end, less the last two bytes of the character it cuts, which is not shown in half.
      expect(tail).toBe('b'.repeat(64 * 1024 - 2 - 5) + 'end!\n');
      expect(longPage.text).toContain('showing the last 64.0 KiB of 70.0 KiB');
    });
  });

  describe('forms', () => {

    it('lists live workers and stops one or all; a bad count is shown back and starts nothing', async () => {
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      for (const [count, message] of [
        ['many', 'count must be a whole number'],
        ['0', 'count must be 1 or more'],
        ['65', 'count must be at most 64'],
        ['', 'count must be a whole number'],
      ]) {
        const res = await agent.post('/workers/start').type('form').send({ _csrf: csrf, count }).expect(400);
        expect(res.text).toContain(message);
        expect(res.text).toContain(`id="count" name="count" value="${count}"`);
      }
      expect(t.app.get(WorkerSupervisor).running()).toBe(0);

      await agent.post('/workers/stop-all').type('form').send({ _csrf: csrf }).expect(303);
      expect((await agent.get('/workers')).text).toContain('No worker was running.');

      // Two workers register through the protocol, as `queuectl worker start` does.
      const ids: string[] = [];
      for (const pid of [4001, 4002]) {
        const { body } = await api('post', '/api/workers/register').send({ hostname: 'box-a', pid, concurrency: 1 }).expect(201);
        ids.push(body.id);
      }
      await api('post', '/api/jobs').send({ id: 'held-by-worker', command: 'sleep 1', priority: 1000000 }).expect(201);
      const claimed = await api('post', `/api/workers/${ids[0]}/claim`).send({ limit: 1, wait_ms: 0 });
      expect(claimed.body.jobs.map((j: { id: string }) => j.id)).toEqual(['held-by-worker']);

      const page = await agent.get('/workers').expect(200);
      for (const id of ids) expect(page.text).toContain(`data-worker="${id}"`);
      expect(page.text).toContain('box-a · pid 4001');
      expect(page.text).toMatch(/href="\/jobs\/held-by-worker"/);
      const overview = await agent.get('/').expect(200);
      expect(overview.text).toContain('Active workers (2)');
      expect(overview.text).toMatch(/href="\/jobs\/held-by-worker"/);

      await agent.post(`/workers/${ids[0]}/stop`).type('form').send({ _csrf: csrf }).expect(303).expect('location', '/workers');
      const after = await agent.get('/workers').expect(200);
      expect(after.text).toContain(`Asked worker ${ids[0]} to stop`);
      expect(after.text).toMatch(new RegExp(`data-worker="${ids[0]}">\\s*<td><code>${ids[0]}</code> <span class="tag" data-stopping>`));
      const listed = (await api('get', '/api/workers')).body.workers as Array<{ id: string; stopping: boolean }>;
      expect(listed.find((w) => w.id === ids[0])?.stopping).toBe(true);
      expect(listed.find((w) => w.id === ids[1])?.stopping).toBe(false);

      await agent.post('/workers/stop-all').type('form').send({ _csrf: csrf }).expect(303);
      expect((await api('get', '/api/workers')).body.workers.every((w: { stopping: boolean }) => w.stopping)).toBe(true);

      const unknown = await agent.post('/workers/no-such-worker/stop').type('form').send({ _csrf: csrf }).expect(404);
      expect(unknown.text).toContain('worker &quot;no-such-worker&quot; not found');
      for (const id of ids) expect((await api('post', `/api/workers/${id}/deregister`)).status).toBeLessThan(300);
    });

    it('enqueues through the form and shows the job', async () => {
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      const res = await agent
        .post('/enqueue')
        .type('form')
        .send({ _csrf: csrf, command: "printf '%s\\n' \"it's | piped\"", id: 'from-form', priority: '5', max_retries: '2', timeout_seconds: '', run_at: '' })
        .expect(303);
      expect(res.headers.location).toBe('/jobs/from-form');
      const created = await job('from-form');
      expect(created).toMatchObject({ command: "printf '%s\\n' \"it's | piped\"", priority: 5, max_retries: 2, state: 'pending', timeout_seconds: null });
      const page = await agent.get('/jobs/from-form').expect(200);
      expect(page.text).toContain('Enqueued job from-form.');
      // The message shows once.
      expect((await agent.get('/jobs/from-form')).text).not.toContain('Enqueued job from-form.');
    });

    it('shows bad enqueue input back with the message and the values, and creates nothing', async () => {
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      await api('post', '/api/jobs').send({ id: 'taken', command: 'true' }).expect(201);
      const total = async () => (await api('get', '/api/status')).body.total;
      const before = await total();
      const cases: Array<[Record<string, string>, number, string]> = [
        [{ command: 'echo x', priority: 'high' }, 400, 'priority must be a whole number'],
        [{ command: '   ' }, 400, 'command must not be blank'],
        [{ command: 'echo x', id: 'has space' }, 400, 'id must be 1–128 characters of A-Za-z0-9._:-'],
        [{ command: 'echo x', run_at: 'tomorrow' }, 400, 'run_at must be an ISO-8601 time'],
        [{ command: 'echo x', max_retries: '-1' }, 400, 'max_retries must be 0 or more'],
        [{ command: 'echo x', id: 'taken' }, 409, 'a job with id &quot;taken&quot; already exists'],
        [{ command: 'echo x', colour: 'red' }, 400, 'unknown field'],
      ];
      for (const [fields, status, message] of cases) {
        const res = await agent.post('/enqueue').type('form').send({ _csrf: csrf, ...fields });
        expect([fields, res.status]).toEqual([fields, status]);
        expect(res.text).toContain(message);
        expect(res.text).toContain('data-error');
        if (fields.priority) expect(res.text).toContain('value="high"');
        if (fields.command.trim()) expect(res.text).toContain('>echo x</textarea>');
      }
      expect(await total()).toBe(before);
    });

    it('refuses every form without the CSRF token, or with another session’s, and changes nothing', async () => {
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      const other = await loggedInAgent(t.app.getHttpServer(), t.token);
      expect(other.csrf).not.toBe(csrf);
      await api('post', '/api/jobs').send({ id: 'csrf-pending', command: 'true' }).expect(201);
      await api('post', '/api/jobs').send({ id: 'csrf-dead', command: 'true' }).expect(201);
      await api('post', '/api/jobs/csrf-dead/cancel').expect(200);
      const total = (await api('get', '/api/status')).body.total;

      const forms: Array<[string, Record<string, string>]> = [
        ['/enqueue', { command: 'echo csrf' }],
        ['/jobs/csrf-pending/cancel', {}],
        ['/dlq/csrf-dead/retry', {}],
        ['/dlq/retry-all', {}],
        ['/config', { key: 'max-retries', value: '9' }],
        ['/workers/start', { count: '1' }],
        ['/workers/stop-all', {}],
        ['/logout', {}],
      ];
      for (const [path, fields] of forms) {
        for (const token of [undefined, other.csrf, 'x']) {
          const res = await agent.post(path).type('form').send(token === undefined ? fields : { ...fields, _csrf: token });
          expect([path, token, res.status]).toEqual([path, token, 403]);
          expect(res.text).toContain('Reload the page and try again.');
        }
      }
      expect((await api('get', '/api/status')).body.total).toBe(total);
      expect((await job('csrf-pending')).state).toBe('pending');
      expect((await job('csrf-dead')).state).toBe('dead');
      expect((await api('get', '/api/config/max-retries')).body.value).toBe(3);
      expect(t.app.get(WorkerSupervisor).running()).toBe(0);
      await agent.get('/').expect(200);
    });

    it('cancels a pending job from its page', async () => {
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      await api('post', '/api/jobs').send({ id: 'to-cancel', command: 'sleep 100' }).expect(201);
      expect((await agent.get('/jobs/to-cancel')).text).toContain('action="/jobs/to-cancel/cancel"');
      await agent.post('/jobs/to-cancel/cancel').type('form').send({ _csrf: csrf }).expect(303).expect('location', '/jobs/to-cancel');
      expect(await job('to-cancel')).toMatchObject({ state: 'dead', last_error: 'cancelled' });
      const again = await agent.post('/jobs/to-cancel/cancel').type('form').send({ _csrf: csrf }).expect(409);
      expect(again.text).toContain('job &quot;to-cancel&quot; is dead; cannot cancel');
    });

    it('retries one dead job, then all of them, from the DLQ', async () => {
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      for (const id of ['dlq-1', 'dlq-2', 'dlq-3']) {
        await api('post', '/api/jobs').send({ id, command: 'false' }).expect(201);
        await api('post', `/api/jobs/${id}/cancel`).expect(200);
      }
      const dead = (await api('get', '/api/status')).body.counts.dead;
      const page = await agent.get('/dlq').expect(200);
      expect(page.text).toMatch(new RegExp(`data-dead-count>${dead}<`));
      for (const id of ['dlq-1', 'dlq-2', 'dlq-3']) expect(page.text).toContain(`data-job="${id}"`);

      await agent.post('/dlq/dlq-2/retry').type('form').send({ _csrf: csrf }).expect(303).expect('location', '/dlq');
      expect(await job('dlq-2')).toMatchObject({ state: 'pending', attempts: 0, last_error: null });
      const after = await agent.get('/dlq').expect(200);
      expect(after.text).toContain('Job dlq-2 is pending again');
      expect(after.text).not.toContain('data-job="dlq-2"');

      const wrong = await agent.post('/dlq/dlq-2/retry').type('form').send({ _csrf: csrf }).expect(409);
      expect(wrong.text).toContain('only dead jobs can be retried');

      await agent.post('/dlq/retry-all').type('form').send({ _csrf: csrf }).expect(303);
      expect((await agent.get('/dlq')).text).toContain(`Retried ${dead - 1} dead jobs.`);
      expect((await api('get', '/api/status')).body.counts.dead).toBe(0);
      expect(await job('dlq-3')).toMatchObject({ state: 'pending', attempts: 0 });
    });

    it('changes a setting, and shows a refused value back with the reason, keeping the old one', async () => {
      const { agent, csrf } = await loggedInAgent(t.app.getHttpServer(), t.token);
      await agent.post('/config').type('form').send({ _csrf: csrf, key: 'max-retries', value: '5' }).expect(303).expect('location', '/config');
      expect((await api('get', '/api/config/max-retries')).body.value).toBe(5);
      const page = await agent.get('/config').expect(200);
      expect(page.text).toContain('max-retries is now 5.');
      expect(page.text).toMatch(/id="set-max-retries" name="value" value="5"/);

      const bad = await agent.post('/config').type('form').send({ _csrf: csrf, key: 'backoff-base', value: 'fast' }).expect(400);
      expect(bad.text).toContain('backoff-base must be a number from 1 to 100');
      expect(bad.text).toMatch(/id="set-backoff-base" name="value" value="fast"/);
      expect((await api('get', '/api/config/backoff-base')).body.value).toBe(2);

      const conflict = await agent.post('/config').type('form').send({ _csrf: csrf, key: 'lease-timeout', value: '3' }).expect(400);
      expect(conflict.text).toContain('lease-timeout (3) must be at least 2 × heartbeat-interval');
      expect((await api('get', '/api/config/lease-timeout')).body.value).toBe(30);

      const unknown = await agent.post('/config').type('form').send({ _csrf: csrf, key: 'colour', value: '1' }).expect(400);
      expect(unknown.text).toContain('unknown config key &quot;colour&quot;');
      await api('put', '/api/config/max-retries').send({ value: 3 }).expect(200);
    });
  });
});
