import { expectError, http, snapshot } from './support/api-helpers';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Requests at the edge of the HTTP layer, before any route: the Host header, the content type,
 * the path's case. Each refusal is one line, changes nothing, and holds on the API, the health
 * check and the dashboard alike.
 */

describe('the Host header', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { QUEUECTL_ALLOWED_HOSTS: 'queue.internal, 10.1.2.3' } });
  });
  afterAll(() => t.close());

  it.each(['/api/health', '/api/jobs', '/', '/login'])('another host name is refused on %s (DNS rebinding)', async (path) => {
    const before = await snapshot(t);
    const res = await http(t).get(path).set(t.auth).set('Host', 'evil.example:7411');
    expect(res.status).toBe(421);
    if (path.startsWith('/api/')) expectError(res, 421, 'wrong_host', /host "evil\.example:7411".*QUEUECTL_ALLOWED_HOSTS/);
    else expect(res.text).toMatch(/^this service does not answer for host "evil\.example:7411"[^\n]*\n$/);
    expect(await snapshot(t)).toEqual(before);
  });

  it('a page on another host cannot enqueue with the token either', async () => {
    const res = await http(t).post('/api/jobs').set(t.auth).set('Host', 'rebound.attacker.test').send({ command: 'touch /tmp/pwned' });
    expectError(res, 421, 'wrong_host');
    expect((await snapshot(t)).jobs).toEqual([]);
  });

  it.each(['localhost:7411', '127.0.0.1:7411', '[::1]:7411', 'LOCALHOST', 'queue.internal:80', '10.1.2.3'])('%s is answered', async (host) => {
    const res = await http(t).get('/api/health').set('Host', host);
    expect(res.status).toBe(200);
    const page = await http(t).get('/login').set('Host', host);
    expect(page.status).toBe(200);
  });
});

describe('bodies the API does not read', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('deeply nested JSON is a 400 with the envelope, not a stack overflow', async () => {
    const before = await snapshot(t);
    for (const depth of [33, 100_000]) {
      const body = `{"command":"true","id":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const res = await http(t).post('/api/jobs').set(t.auth).set('Content-Type', 'application/json').send(body);
      expectError(res, 400, 'invalid_input', /^request body nests arrays and objects deeper than 32 levels$/);
    }
    const batch = `{"jobs":[${'{"command":"true","x":'.repeat(50_000)}1${'}'.repeat(50_000)}]}`;
    expectError(await http(t).post('/api/jobs/batch').set(t.auth).set('Content-Type', 'application/json').send(batch), 400, 'invalid_input', /deeper than 32/);
    // Brackets inside strings are not nesting.
    const command = `echo '${'['.repeat(100)}'`;
    const ok = await http(t).post('/api/jobs').set(t.auth).send({ command });
    expect(ok.status).toBe(201);
    expect(ok.body.command).toBe(command);
    expect((await snapshot(t)).jobs).toHaveLength(before.jobs.length + 1);
  });

  it.each([
    ['text/plain', '{"command":"echo hi"}'],
    ['application/x-www-form-urlencoded', 'command=echo+hi'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="command"\r\n\r\necho hi\r\n--x--\r\n'],
  ])('a %s body is refused with 415 naming the header', async (type, body) => {
    const before = await snapshot(t);
    const res = await http(t).post('/api/jobs').set(t.auth).set('Content-Type', type).send(body);
    expectError(res, 415, 'unsupported_media_type', /Content-Type: application\/json/);
    expect(await snapshot(t)).toEqual(before);
  });

  it('a body without any Content-Type is refused with 415 too; no body at all is still a missing command', async () => {
    const before = await snapshot(t);
    const res = await http(t).post('/api/jobs').set(t.auth).set('Content-Length', '21').serialize((b) => b).send('{"command":"echo hi"}' as never).unset('Content-Type');
    expectError(res, 415, 'unsupported_media_type', /none was sent/);
    expectError(await http(t).post('/api/jobs').set(t.auth), 400, 'invalid_input', /command/);
    expect(await snapshot(t)).toEqual(before);
  });

  it('/API/jobs in upper case does not reach the API, with a form body or a JSON one', async () => {
    const before = await snapshot(t);
    const form = await http(t).post('/API/jobs').set(t.auth).type('form').send({ command: 'touch /tmp/queuectl-upper-case' });
    expect(form.status).not.toBe(201);
    expect([404, 415]).toContain(form.status);
    const mixed = await http(t).post('/Api/Jobs').set(t.auth).send({ command: 'true' });
    expect(mixed.status).toBe(404);
    expect(await snapshot(t)).toEqual(before);
  });

  it('a command with bytes that are not UTF-8 is refused, not stored with U+FFFD', async () => {
    const before = await snapshot(t);
    const body = Buffer.concat([Buffer.from('{"command":"echo '), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('"}')]);
    const res = await http(t).post('/api/jobs').set(t.auth).set('Content-Type', 'application/json').serialize((b) => b).send(body as never);
    expectError(res, 400, 'invalid_input', /^request body is not valid UTF-8: commands and every other text must be UTF-8$/);
    expect(await snapshot(t)).toEqual(before);
    const emoji = await http(t).post('/api/jobs').set(t.auth).set('Content-Type', 'application/json').serialize((b) => b).send(Buffer.from('{"command":"echo 🙂 é"}') as never);
    expect(emoji.status).toBe(201);
    expect(emoji.body.command).toBe('echo 🙂 é');
  });
});

describe('a worker id that is not registered', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('gets 404 on claim, heartbeat, output and report, and no lease is extended, no job claimed or finished', async () => {
    const w = (await http(t).post('/api/workers/register').set(t.auth).send({ hostname: 'h', pid: 1, concurrency: 1 })).body;
    await http(t).post('/api/jobs').set(t.auth).send({ id: 'held', command: 'sleep 60' }).expect(201);
    const claimed = await http(t).post(`/api/workers/${w.id}/claim`).set(t.auth).send({ limit: 1 }).expect(200);
    const { lease } = claimed.body.jobs[0];
    await http(t).post('/api/jobs').set(t.auth).send({ id: 'waiting', command: 'true' }).expect(201);
    const gone = (await http(t).post('/api/workers/register').set(t.auth).send({ hostname: 'h', pid: 2, concurrency: 1 })).body;
    await http(t).post(`/api/workers/${gone.id}/deregister`).set(t.auth).expect(200);
    const before = await snapshot(t);
    const chunk = { id: 'held', lease, offset: 0, data_base64: Buffer.from('forged').toString('base64') };

    for (const id of ['w-ffffffffffff', gone.id]) {
      const calls = [
        http(t).post(`/api/workers/${id}/heartbeat`).set(t.auth).send({ running: [{ id: 'held', lease }] }),
        http(t).post(`/api/workers/${id}/claim`).set(t.auth).send({ limit: 5 }),
        http(t).post(`/api/workers/${id}/output`).set(t.auth).send({ chunks: [chunk] }),
        http(t).post(`/api/workers/${id}/report`).set(t.auth).send({ results: [{ id: 'held', lease, exit_code: 0 }], claim: 5 }),
      ];
      for (const res of await Promise.all(calls)) expectError(res, 404, 'not_found', new RegExp(`^worker "${id}" not found$`));
    }
    // lease_expires_at included: nothing was extended, claimed, stored or finished.
    expect(await snapshot(t)).toEqual(before);
    const output = await http(t).get('/api/jobs/held/output').set(t.auth);
    expect(output.headers['x-queuectl-end']).toBe('0');
  });
});

describe('run_at', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it.each(['2030-01-01T09:00:00', '2030-01-01T09:00', '2030-01-01', '2030-01-01T09:00:00.250'])('%s, without a time zone, is refused as ambiguous', async (runAt) => {
    const before = await snapshot(t);
    expectError(await http(t).post('/api/jobs').set(t.auth).send({ command: 'true', run_at: runAt }), 400, 'invalid_input', /^run_at must give a time and its time zone/);
    expectError(await http(t).post('/api/jobs/batch').set(t.auth).send({ jobs: [{ command: 'true', run_at: runAt }] }), 400, 'invalid_input', /run_at must give a time and its time zone/);
    expect(await snapshot(t)).toEqual(before);
  });

  it.each([
    ['2030-01-01T09:00:00Z', '2030-01-01T09:00:00.000Z'],
    ['2030-01-01T09:00:00+02:00', '2030-01-01T07:00:00.000Z'],
    ['2030-01-01T09:00-0130', '2030-01-01T10:30:00.000Z'],
    ['2030-01-01T09:00:00.5z', '2030-01-01T09:00:00.500Z'],
  ])('%s is taken in its own zone', async (runAt, stored) => {
    const res = await http(t).post('/api/jobs').set(t.auth).send({ command: 'true', run_at: runAt });
    expect(res.status).toBe(201);
    expect(res.body.run_at).toBe(stored);
  });
});

describe('field names of other queue tools', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('base_backoff is taken as backoff_base, alone or in a batch', async () => {
    const one = await http(t).post('/api/jobs').set(t.auth).send({ id: 'alias-1', command: 'true', base_backoff: 3 });
    expect(one.status).toBe(201);
    expect(one.body.backoff_base).toBe(3);
    expect(one.body).not.toHaveProperty('base_backoff');
    const batch = await http(t).post('/api/jobs/batch').set(t.auth).send({ jobs: [{ id: 'alias-2', command: 'true', base_backoff: 1.5 }, { id: 'plain', command: 'true' }] });
    expect(batch.status).toBe(201);
    expect(batch.body.jobs.map((j: { backoff_base: number | null }) => j.backoff_base)).toEqual([1.5, null]);
  });

  it.each([
    [{ command: 'true', base_backoff: 2, backoff_base: 2 }, /^backoff_base and base_backoff are the same field: give one of them$/],
    [{ command: 'true', base_backoff: 'x' }, /^base_backoff must be a number$/],
    [{ command: 'true', base_backoff: 1000 }, /^base_backoff must be at most 100$/],
    [{ command: 'true', max_retires: 3 }, /^unknown field "max_retires" \(did you mean "max_retries"\?\)$/],
    [{ command: 'true', retries_max: 3 }, /^unknown field "retries_max" \(did you mean "max_retries"\?\)$/],
    [{ command: 'true', timeout: 3 }, /^unknown field "timeout"$/],
    [{ command: 'true', colour: 'red' }, /^unknown field "colour"$/],
  ])('%j is refused with one line', async (body, message) => {
    const before = await snapshot(t);
    expectError(await http(t).post('/api/jobs').set(t.auth).send(body), 400, 'invalid_input', message);
    expect(await snapshot(t)).toEqual(before);
  });

  it('a near miss inside a batch names the job and the field', async () => {
    const res = await http(t).post('/api/jobs/batch').set(t.auth).send({ jobs: [{ command: 'true' }, { command: 'true', priorty: 2 }] });
    expectError(res, 400, 'invalid_input', /^unknown field "jobs\[1\]\.priorty" \(did you mean "priority"\?\)$/);
  });
});
