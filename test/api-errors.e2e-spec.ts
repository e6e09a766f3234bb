import request from 'supertest';
import { Logger } from '@nestjs/common';
import { SqlDatabase } from '../src/database/sql';
import { enqueue, expectError, http, jobIn, snapshot } from './support/api-helpers';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

/**
 * Every refused request of SPEC §4/§6: the fitting status, the error envelope, a one-line
 * message, and nothing changed in the database.
 */

type Call = (t: TestApp) => request.Test;

interface Case {
  name: string;
  call: Call;
  status: number;
  code: string;
  message?: RegExp;
}

const post = (path: string, body: unknown): Call => (t) => http(t).post(path).set(t.auth).send(body as object);
const raw = (method: 'post' | 'put', path: string, text: string): Call => (t) =>
  http(t)[method](path).set(t.auth).set('Content-Type', 'application/json').send(text);
const get = (path: string): Call => (t) => http(t).get(path).set(t.auth);
const job = (fields: Record<string, unknown>) => post('/api/jobs', fields);

const CASES: Case[] = [
  // Malformed JSON, wherever a body is read.
  { name: 'malformed JSON on enqueue', call: raw('post', '/api/jobs', '{"command": "echo hi"'), status: 400, code: 'invalid_input', message: /JSON/ },
  { name: 'malformed JSON on batch', call: raw('post', '/api/jobs/batch', '{"jobs": [}'), status: 400, code: 'invalid_input', message: /JSON/ },
  { name: 'malformed JSON on purge', call: raw('post', '/api/jobs/purge', "{'state': 'dead'}"), status: 400, code: 'invalid_input', message: /JSON/ },
  { name: 'malformed JSON on config', call: raw('put', '/api/config/max-retries', '{"value": 3,}'), status: 400, code: 'invalid_input', message: /JSON/ },
  { name: 'a JSON string instead of an object', call: raw('post', '/api/jobs', '"echo hi"'), status: 400, code: 'invalid_input' },
  { name: 'a JSON array instead of a job', call: post('/api/jobs', [{ command: 'echo hi' }]), status: 400, code: 'invalid_input' },

  // Missing or blank command.
  { name: 'no body', call: (t) => http(t).post('/api/jobs').set(t.auth), status: 400, code: 'invalid_input', message: /command/ },
  { name: 'empty object', call: job({}), status: 400, code: 'invalid_input', message: /command/ },
  { name: 'command null', call: job({ command: null }), status: 400, code: 'invalid_input', message: /command/ },
  { name: 'empty command', call: job({ command: '' }), status: 400, code: 'invalid_input', message: /command must not be blank/ },
  { name: 'blank command', call: job({ command: ' \t\n ' }), status: 400, code: 'invalid_input', message: /command must not be blank/ },
  { name: 'command with a NUL byte', call: job({ command: 'echo a\u0000b' }), status: 400, code: 'invalid_input', message: /command/ },

  // Bad ids in the body.
  { name: 'id with a space', call: job({ id: 'a b', command: 'true' }), status: 400, code: 'invalid_input', message: /id must be/ },
  { name: 'empty id', call: job({ id: '', command: 'true' }), status: 400, code: 'invalid_input', message: /id must be/ },
  { name: 'id of 129 characters', call: job({ id: 'x'.repeat(129), command: 'true' }), status: 400, code: 'invalid_input', message: /id must be/ },
  { name: 'id with a slash', call: job({ id: 'a/b', command: 'true' }), status: 400, code: 'invalid_input', message: /id must be/ },
  { name: 'id with non-ASCII', call: job({ id: 'jöb', command: 'true' }), status: 400, code: 'invalid_input', message: /id must be/ },
  { name: 'bad id inside a batch', call: post('/api/jobs/batch', { jobs: [{ command: 'true' }, { id: 'no way', command: 'true' }] }), status: 400, code: 'invalid_input', message: /jobs\[1\]/ },

  // Bad ids in the path.
  { name: 'show: id with a space', call: get('/api/jobs/a%20b'), status: 400, code: 'invalid_input', message: /not a job id/ },
  { name: 'show: id of 129 characters', call: get(`/api/jobs/${'x'.repeat(129)}`), status: 400, code: 'invalid_input', message: /not a job id/ },
  { name: 'show: non-ASCII id', call: get('/api/jobs/j%C3%B6b'), status: 400, code: 'invalid_input', message: /not a job id/ },
  { name: 'show: id with a newline and a control character', call: get('/api/jobs/a%0Ab%1B'), status: 400, code: 'invalid_input', message: /not a job id/ },
  { name: 'cancel: bad id', call: post('/api/jobs/a%24b/cancel', {}), status: 400, code: 'invalid_input', message: /not a job id/ },
  { name: 'dlq retry: bad id', call: post('/api/dlq/a%2Cb/retry', {}), status: 400, code: 'invalid_input', message: /not a job id/ },

  // Wrong types: nothing is coerced.
  { name: 'max_retries as a string', call: job({ command: 'true', max_retries: '3' }), status: 400, code: 'invalid_input', message: /max_retries/ },
  { name: 'priority 1.5', call: job({ command: 'true', priority: 1.5 }), status: 400, code: 'invalid_input', message: /priority/ },
  { name: 'priority as a string', call: job({ command: 'true', priority: '1' }), status: 400, code: 'invalid_input', message: /priority/ },
  { name: 'command 42', call: job({ command: 42 }), status: 400, code: 'invalid_input', message: /command must be a string/ },
  { name: 'command as an array', call: job({ command: ['echo', 'hi'] }), status: 400, code: 'invalid_input', message: /command must be a string/ },
  { name: 'command as an object', call: job({ command: { sh: 'echo' } }), status: 400, code: 'invalid_input', message: /command must be a string/ },
  { name: 'id as a number', call: job({ id: 7, command: 'true' }), status: 400, code: 'invalid_input', message: /id must be a string/ },
  { name: 'timeout_seconds as a string', call: job({ command: 'true', timeout_seconds: '10' }), status: 400, code: 'invalid_input', message: /timeout_seconds/ },
  { name: 'backoff_base as a string', call: job({ command: 'true', backoff_base: '2' }), status: 400, code: 'invalid_input', message: /backoff_base/ },
  { name: 'max_retries true', call: job({ command: 'true', max_retries: true }), status: 400, code: 'invalid_input', message: /max_retries/ },
  { name: 'run_at as a number', call: job({ command: 'true', run_at: 1893456000000 }), status: 400, code: 'invalid_input', message: /run_at/ },
  { name: 'state other than pending', call: job({ command: 'true', state: 'completed' }), status: 400, code: 'invalid_input', message: /state/ },
  { name: 'attempts other than 0', call: job({ command: 'true', attempts: 2 }), status: 400, code: 'invalid_input', message: /attempts/ },
  { name: 'jobs not an array', call: post('/api/jobs/batch', { jobs: { command: 'true' } }), status: 400, code: 'invalid_input', message: /jobs/ },
  { name: 'empty batch', call: post('/api/jobs/batch', { jobs: [] }), status: 400, code: 'invalid_input', message: /jobs/ },
  { name: 'batch job without command', call: post('/api/jobs/batch', { jobs: [{ command: 'true' }, {}] }), status: 400, code: 'invalid_input', message: /jobs\[1\]/ },

  // Unknown fields.
  { name: 'unknown field', call: job({ command: 'true', retries: 3 }), status: 400, code: 'invalid_input', message: /unknown field "retries"/ },
  { name: 'misspelt field', call: job({ Command: 'true' }), status: 400, code: 'invalid_input', message: /Command/ },
  { name: 'unknown field in a batch job', call: post('/api/jobs/batch', { jobs: [{ command: 'true', nice: 1 }] }), status: 400, code: 'invalid_input', message: /jobs\[0\]\.nice/ },
  { name: 'unknown field beside jobs', call: post('/api/jobs/batch', { jobs: [{ command: 'true' }], atomic: true }), status: 400, code: 'invalid_input', message: /atomic/ },
  { name: 'unknown query parameter', call: get('/api/jobs?status=dead'), status: 400, code: 'invalid_input', message: /status/ },
  { name: 'unknown field in purge', call: post('/api/jobs/purge', { state: 'dead', all: true }), status: 400, code: 'invalid_input', message: /all/ },
  { name: 'unknown field in config', call: (t) => http(t).put('/api/config/max-retries').set(t.auth).send({ value: 4, force: true }), status: 400, code: 'invalid_input', message: /force/ },

  // max_retries out of range.
  { name: 'negative max_retries', call: job({ command: 'true', max_retries: -1 }), status: 400, code: 'invalid_input', message: /max_retries/ },
  { name: 'fractional max_retries', call: job({ command: 'true', max_retries: 2.5 }), status: 400, code: 'invalid_input', message: /max_retries/ },
  { name: 'huge max_retries', call: job({ command: 'true', max_retries: 1e12 }), status: 400, code: 'invalid_input', message: /max_retries/ },

  // Unparseable run_at.
  { name: 'run_at in words', call: job({ command: 'true', run_at: 'tomorrow' }), status: 400, code: 'invalid_input', message: /run_at/ },
  { name: 'run_at month 13', call: job({ command: 'true', run_at: '2030-13-01T00:00:00Z' }), status: 400, code: 'invalid_input', message: /run_at/ },
  { name: 'run_at February 30', call: job({ command: 'true', run_at: '2030-02-30T00:00:00Z' }), status: 400, code: 'invalid_input', message: /run_at/ },
  { name: 'run_at hour 25', call: job({ command: 'true', run_at: '2030-01-01T25:00:00Z' }), status: 400, code: 'invalid_input', message: /run_at/ },
  { name: 'empty run_at', call: job({ command: 'true', run_at: '' }), status: 400, code: 'invalid_input', message: /run_at/ },

  // Unknown ids.
  { name: 'show an unknown job', call: get('/api/jobs/no-such-job'), status: 404, code: 'not_found', message: /no-such-job/ },
  { name: 'cancel an unknown job', call: post('/api/jobs/no-such-job/cancel', {}), status: 404, code: 'not_found', message: /no-such-job/ },
  { name: 'retry an unknown job', call: post('/api/dlq/no-such-job/retry', {}), status: 404, code: 'not_found', message: /no-such-job/ },

  // Wrong states.
  { name: 'cancel a dead job', call: post('/api/jobs/is-dead/cancel', {}), status: 409, code: 'invalid_state', message: /dead/ },
  { name: 'cancel a completed job', call: post('/api/jobs/is-completed/cancel', {}), status: 409, code: 'invalid_state', message: /completed/ },
  { name: 'retry a pending job from the DLQ', call: post('/api/dlq/is-pending/retry', {}), status: 409, code: 'invalid_state', message: /pending/ },
  { name: 'retry a failed job from the DLQ', call: post('/api/dlq/is-failed/retry', {}), status: 409, code: 'invalid_state', message: /failed/ },
  { name: 'retry a running job from the DLQ', call: post('/api/dlq/is-processing/retry', {}), status: 409, code: 'invalid_state', message: /processing/ },
  { name: 'retry a completed job from the DLQ', call: post('/api/dlq/is-completed/retry', {}), status: 409, code: 'invalid_state', message: /completed/ },

  // Duplicates.
  { name: 'duplicate id', call: job({ id: 'is-pending', command: 'echo impostor' }), status: 409, code: 'duplicate_job', message: /is-pending/ },
  { name: 'duplicate id in a batch', call: post('/api/jobs/batch', { jobs: [{ id: 'new-one', command: 'true' }, { id: 'is-dead', command: 'true' }] }), status: 409, code: 'duplicate_job', message: /is-dead/ },

  // Listing, purging and config.
  { name: 'list: unknown state', call: get('/api/jobs?state=running'), status: 400, code: 'invalid_input', message: /state must be one of/ },
  { name: 'list: limit 0', call: get('/api/jobs?limit=0'), status: 400, code: 'invalid_input', message: /limit/ },
  { name: 'list: limit 1001', call: get('/api/jobs?limit=1001'), status: 400, code: 'invalid_input', message: /limit/ },
  { name: 'list: limit abc', call: get('/api/jobs?limit=abc'), status: 400, code: 'invalid_input', message: /limit/ },
  { name: 'list: bad cursor', call: get('/api/jobs?cursor=-4'), status: 400, code: 'invalid_input', message: /cursor/ },
  { name: 'dlq list: bad limit', call: get('/api/dlq?limit=2.5'), status: 400, code: 'invalid_input', message: /limit/ },
  { name: 'purge without a state', call: post('/api/jobs/purge', {}), status: 400, code: 'invalid_input', message: /state/ },
  { name: 'purge pending jobs', call: post('/api/jobs/purge', { state: 'pending' }), status: 400, code: 'invalid_input', message: /state/ },
  { name: 'purge with a negative age', call: post('/api/jobs/purge', { state: 'dead', older_than_seconds: -1 }), status: 400, code: 'invalid_input', message: /older_than_seconds/ },
  { name: 'purge with the age as a string', call: post('/api/jobs/purge', { state: 'dead', older_than_seconds: '60' }), status: 400, code: 'invalid_input', message: /older_than_seconds/ },
  { name: 'config: unknown key', call: get('/api/config/max-retry'), status: 400, code: 'invalid_input', message: /unknown config key/ },
  { name: 'config: unknown key with a newline', call: get('/api/config/max%0Aretries'), status: 400, code: 'invalid_input', message: /unknown config key/ },
  { name: 'config: set an unknown key', call: (t) => http(t).put('/api/config/colour').set(t.auth).send({ value: 1 }), status: 400, code: 'invalid_input', message: /unknown config key/ },
  { name: 'config: no value', call: (t) => http(t).put('/api/config/max-retries').set(t.auth).send({}), status: 400, code: 'invalid_input', message: /value/ },
  { name: 'config: bad value', call: (t) => http(t).put('/api/config/max-retries').set(t.auth).send({ value: -2 }), status: 400, code: 'invalid_input', message: /max-retries/ },
  { name: 'config: lease under twice the heartbeat', call: (t) => http(t).put('/api/config/lease-timeout').set(t.auth).send({ value: 9 }), status: 400, code: 'invalid_input', message: /heartbeat/ },

  // Routes that do not exist.
  { name: 'unknown route', call: get('/api/nothing-here'), status: 404, code: 'not_found' },
  { name: 'unknown sub-route', call: post('/api/jobs/is-pending/restart', {}), status: 404, code: 'not_found' },
  { name: 'unknown method', call: (t) => http(t).delete('/api/jobs/is-pending').set(t.auth), status: 404, code: 'not_found' },
];

describe('REST API errors', () => {
  let t: TestApp;

  beforeAll(async () => {
    const clock = new ManualClock();
    t = await createTestApp({ clock });
    await enqueue(t, { id: 'is-pending', command: 'echo original' });
    await jobIn(t, clock, 'processing', { id: 'is-processing', command: 'sleep 100' });
    await jobIn(t, clock, 'completed', { id: 'is-completed', command: 'true' });
    await jobIn(t, clock, 'failed', { id: 'is-failed', command: 'false' });
    await jobIn(t, clock, 'dead', { id: 'is-dead', command: 'false' });
    await http(t).put('/api/config/max-retries').set(t.auth).send({ value: 4 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s: refused, and nothing changes', async (_name, c) => {
    const before = await snapshot(t);
    const res = await c.call(t);
    expectError(res, c.status, c.code, c.message);
    expect(await snapshot(t)).toEqual(before);
  });

  it('keeps the original job intact on a duplicate id: same command, same created_at', async () => {
    const original = (await http(t).get('/api/jobs/is-pending').set(t.auth)).body;
    const res = await http(t).post('/api/jobs').set(t.auth).send({ id: 'is-pending', command: 'rm -rf /tmp/impostor', max_retries: 0 });
    expectError(res, 409, 'duplicate_job');
    expect(res.body.error.details).toEqual({ ids: ['is-pending'] });
    expect((await http(t).get('/api/jobs/is-pending').set(t.auth)).body).toEqual(original);
    expect(original).toMatchObject({ command: 'echo original', max_retries: 3 });
  });

  it('names the first problem in the message and lists every one in details', async () => {
    const res = await http(t).post('/api/jobs').set(t.auth).send({ command: 42, priority: 'high', colour: 'red' });
    expectError(res, 400, 'invalid_input');
    const details: string[] = res.body.error.details;
    expect(details).toEqual(expect.arrayContaining(['unknown field "colour"', 'command must be a string', 'priority must be a whole number']));
    expect(res.body.error.message.startsWith(details[0])).toBe(true);
  });
});

describe('REST API authorisation', () => {
  let t: TestApp;
  let routes: Array<{ method: string; path: string }>;

  beforeAll(async () => {
    const clock = new ManualClock();
    // Every route is tried with six wrong tokens: far past the failed-login limit of one address,
    // and a hundred warnings of failed logins that this test means to cause.
    t = await createTestApp({ clock, env: { QUEUECTL_LOGIN_FAILURES: '100000' }, logLevels: ['error'] });
    await enqueue(t, { id: 'guarded', command: 'echo secret' });
    await jobIn(t, clock, 'dead', { id: 'guarded-dead', command: 'false' });
    // The routes come from the OpenAPI description, so a route added later is checked too.
    const doc = await http(t).get('/api/docs-json');
    routes = Object.entries(doc.body.paths as Record<string, object>)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method, path })))
      .filter((r) => !r.path.startsWith('/api/health'));
  });
  afterAll(async () => {
    await t?.close();
  });

  const BODIES: Record<string, object> = {
    'post /api/jobs': { command: 'echo sneaky' },
    'post /api/jobs/batch': { jobs: [{ command: 'echo sneaky' }] },
    'post /api/jobs/purge': { state: 'dead' },
    'put /api/config/{key}': { value: 9 },
  };

  const send = (method: string, path: string, authorization?: string) => {
    const url = path.replace('{id}', path.startsWith('/api/dlq') ? 'guarded-dead' : 'guarded').replace('{key}', 'max-retries');
    let req = (http(t) as unknown as Record<string, (u: string) => request.Test>)[method](url);
    if (authorization !== undefined) req = req.set('Authorization', authorization);
    const body = BODIES[`${method} ${path}`];
    return body ? req.send(body) : req;
  };

  it('finds every route to check in the OpenAPI description', () => {
    expect(routes.length).toBeGreaterThanOrEqual(15);
  });

  it.each([
    ['no Authorization header', undefined],
    ['a wrong token', 'Bearer wrong-token-0123456789abcdef'],
    ['the token with a character more', `Bearer ${'test-token-0123456789abcdef'}x`],
    ['an empty bearer', 'Bearer '],
    ['another scheme', `Basic ${Buffer.from('user:test-token-0123456789abcdef').toString('base64')}`],
    ['the bare token', 'test-token-0123456789abcdef'],
  ])('answers 401 on every route but health with %s, and changes nothing', async (_name, authorization) => {
    const before = await snapshot(t);
    for (const { method, path } of routes) {
      const res = await send(method, path, authorization);
      try {
        expectError(res, 401, 'unauthorized');
      } catch (e) {
        throw new Error(`${method.toUpperCase()} ${path}: ${(e as Error).message}`);
      }
    }
    expect(await snapshot(t)).toEqual(before);
    expect(t.shutdownRequests).toBe(0);
  });

  it('answers with the right token (so the 401s above came from the token alone)', async () => {
    const res = await http(t).get('/api/jobs/guarded').set('Authorization', 'bearer test-token-0123456789abcdef');
    expect(res.status).toBe(200);
  });

  it('never sends the token back in an error', async () => {
    const res = await send('get', '/api/jobs', 'Bearer test-token-0123456789abcdefx');
    expect(res.text).not.toContain('test-token');
  });

  it('answers health without a token', async () => {
    expect((await http(t).get('/api/health')).status).toBe(200);
  });
});

describe('REST API body limit', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { QUEUECTL_BODY_LIMIT: '2048' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['one job', '/api/jobs', { command: `echo ${'x'.repeat(3000)}` }],
    ['a batch', '/api/jobs/batch', { jobs: Array.from({ length: 100 }, (_, i) => ({ command: `echo ${i} ${'y'.repeat(20)}` })) }],
    ['a config value', '/api/config/max-retries', { value: '1'.padStart(4000, '0') }],
  ])('refuses %s over QUEUECTL_BODY_LIMIT with 413, and changes nothing', async (_name, path, body) => {
    const before = await snapshot(t);
    const req = path.startsWith('/api/config') ? http(t).put(path) : http(t).post(path);
    const res = await req.set(t.auth).send(body);
    expectError(res, 413, 'payload_too_large', /2048/);
    expect(await snapshot(t)).toEqual(before);
  });

  it('still accepts a body under the limit', async () => {
    const res = await http(t).post('/api/jobs').set(t.auth).send({ command: `echo ${'x'.repeat(1800)}` });
    expect(res.status).toBe(201);
  });
});

describe('REST API with storage unavailable', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 503 when the database cannot grow, stores nothing, and works again once it can', async () => {
    const db = t.app.get(SqlDatabase);
    await enqueue(t, { id: 'before', command: 'true' });
    const [{ page_count: pages }] = await db.rows<{ page_count: number }>('PRAGMA page_count');
    // SQLite's own way to reach "database or disk is full" on purpose.
    await db.rows(`PRAGMA max_page_count = ${pages}`);
    const before = await snapshot(t);
    const big = { command: `echo ${'z'.repeat(100_000)}` };
    // The refusals are expected: logged as one warning line each, kept here rather than printed.
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const failed = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const answers = await Promise.all([
      http(t).post('/api/jobs').set(t.auth).send({ id: 'full-1', ...big }),
      http(t).post('/api/jobs').set(t.auth).send({ id: 'small', command: 'true' }),
      http(t).post('/api/jobs/batch').set(t.auth).send({ jobs: [{ id: 'full-2', ...big }] }),
    ]);
    const full = answers.filter((r) => r.status !== 201);
    expect(full.length).toBeGreaterThanOrEqual(2);
    for (const res of full) expectError(res, 503, 'storage_unavailable', /full/);
    const logged = [...warned.mock.calls, ...failed.mock.calls];
    warned.mockRestore();
    failed.mockRestore();
    expect(logged).toEqual(full.map(() => [expect.stringMatching(/^storage unavailable: SQLITE_FULL: database or disk is full$/)]));
    // Whatever was refused is not stored; whatever was acknowledged is.
    const stored = (await db.rows<{ id: string }>('SELECT id FROM jobs')).map((r) => r.id).sort();
    const acknowledged = answers.filter((r) => r.status === 201).map((r) => r.body.id ?? r.body.jobs[0].id);
    expect(stored).toEqual(['before', ...acknowledged].sort());
    if (acknowledged.length === 0) expect(await snapshot(t)).toEqual(before);

    await db.rows('PRAGMA max_page_count = 1073741823');
    expect((await http(t).post('/api/jobs').set(t.auth).send({ id: 'full-1', ...big })).status).toBe(201);
  });
});
