import { SqlDatabase } from '../src/database/sql';
import { RetentionSweeper } from '../src/jobs/retention-sweeper';
import { expectError, http, snapshot } from './support/api-helpers';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

/** `Idempotency-Key` on POST /api/jobs and /api/jobs/batch. */
describe('idempotent enqueue', () => {
  let t: TestApp;
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });
  afterEach(() => t.close());

  const post = (path: string, key: string | undefined, body: unknown) => {
    const req = http(t).post(path).set(t.auth);
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(body as object);
  };
  const jobCount = async () => Number((await t.app.get(SqlDatabase).rows<{ n: number }>('SELECT COUNT(*) AS n FROM jobs'))[0].n);

  it('the same key with the same body creates one job and answers the same, 200 the second time', async () => {
    const first = await post('/api/jobs', 'key-1', { command: 'echo once', priority: 2 });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    clock.advance(60_000);
    // The same body with its keys in another order is the same request.
    const second = await post('/api/jobs', 'key-1', { priority: 2, command: 'echo once' });
    expect(second.status).toBe(200);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(await jobCount()).toBe(1);
  });

  it('a batch sent twice creates its jobs once', async () => {
    const body = { jobs: [{ command: 'a' }, { command: 'b' }] };
    const first = await post('/api/jobs/batch', 'batch-1', body).expect(201);
    const second = await post('/api/jobs/batch', 'batch-1', body).expect(200);
    expect(second.body).toEqual(first.body);
    expect(first.body.jobs).toHaveLength(2);
    expect(await jobCount()).toBe(2);
  });

  it('answers each request in the form its own Prefer asks for, the first answer and the replays alike', async () => {
    const body = { jobs: [{ command: 'a' }, { command: 'b' }] };
    const first = await post('/api/jobs/batch', 'batch-min', body).set('Prefer', 'return=minimal').expect(201);
    expect(first.headers['preference-applied']).toBe('return=minimal');
    const full = await post('/api/jobs/batch', 'batch-min', body).expect(200);
    expect(full.body.jobs.map((j: { id: string }) => j.id)).toEqual(first.body.ids);
    const again = await post('/api/jobs/batch', 'batch-min', body).set('Prefer', 'return=minimal').expect(200);
    expect(again.body).toEqual(first.body);
    const one = await post('/api/jobs', 'one-min', { command: 'c' }).set('Prefer', 'return=minimal').expect(201);
    const oneAgain = await post('/api/jobs', 'one-min', { command: 'c' }).expect(200);
    expect(oneAgain.body).toMatchObject({ id: one.body.id, command: 'c' });
    expect(await jobCount()).toBe(3);
  });

  it('the same key with a different body (or route) is 409 and creates nothing', async () => {
    await post('/api/jobs', 'key-2', { command: 'echo one' }).expect(201);
    const before = await snapshot(t);
    expectError(await post('/api/jobs', 'key-2', { command: 'echo two' }), 409, 'idempotency_conflict', /Idempotency-Key "key-2" was used for a different request/);
    expectError(await post('/api/jobs/batch', 'key-2', { jobs: [{ command: 'echo one' }] }), 409, 'idempotency_conflict');
    expect(await snapshot(t)).toEqual(before);
  });

  it('requests sent at once with one key create one job, and all get its answer', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => post('/api/jobs', 'together', { command: 'echo together' })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await jobCount()).toBe(1);
  });

  it('a key is forgotten after 24 h: then the request enqueues again, and the sweep removes old keys', async () => {
    const first = await post('/api/jobs', 'daily', { command: 'echo day' }).expect(201);
    clock.advance(24 * 3600_000 + 1);
    const next = await post('/api/jobs', 'daily', { command: 'echo day' }).expect(201);
    expect(next.body.id).not.toBe(first.body.id);
    await post('/api/jobs', 'other', { command: 'echo other' }).expect(201);
    clock.advance(24 * 3600_000 + 1);
    await t.app.get(RetentionSweeper).sweep();
    expect(await t.app.get(SqlDatabase).rows('SELECT key FROM idempotency_keys')).toEqual([]);
  });

  it('a refused request stores no key: the same key may then be sent with a good body', async () => {
    await post('/api/jobs', undefined, { id: 'taken', command: 'true' }).expect(201);
    expectError(await post('/api/jobs', 'retry-me', { id: 'taken', command: 'true' }), 409, 'duplicate_job');
    expectError(await post('/api/jobs', 'retry-me', { command: 'true', priority: 'high' }), 400, 'invalid_input');
    await post('/api/jobs', 'retry-me', { id: 'fresh', command: 'true' }).expect(201);
  });

  it.each([
    ['empty', '', /Idempotency-Key must be 1–255 visible ASCII characters/],
    ['of 256 characters', 'x'.repeat(256), /Idempotency-Key must be 1–255/],
    ['with a space', 'has space', /Idempotency-Key must be 1–255/],
  ])('refuses a key %s in one line, creating nothing', async (_label, key, message) => {
    expectError(await post('/api/jobs', key, { command: 'true' }), 400, 'invalid_input', message);
    expect(await jobCount()).toBe(0);
  });
});
