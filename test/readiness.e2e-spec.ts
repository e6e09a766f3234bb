import request from 'supertest';
import { SqlDatabase } from '../src/database/sql';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Readiness (GET /api/health/ready) touches the database; liveness (GET /api/health) does not.
 * A replica whose database does not answer is taken out of rotation but not killed.
 */
describe('readiness', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers ready without a token when the database answers', async () => {
    const res = await request(t.app.getHttpServer()).get('/api/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready' });
  });

  it('answers 503 with the envelope while the database is busy past the bound, and health still answers', async () => {
    const db = t.app.get(SqlDatabase);
    const counting = (rows: number) => `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) SELECT count(*) AS c FROM n`;
    // One unit of work that keeps the writing connection busy for at least 5 s, well past the
    // 2 s bound, as a stalled disk would, however fast this machine counts: sized by the fastest
    // of three smaller counts, so a sample slowed by a busy moment cannot shrink it below the
    // bound. (Readiness asks the writer: reads have a connection of their own.)
    let msPerMillion = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await db.write((sql) => sql.rows(counting(1_000_000)));
      msPerMillion = Math.min(msPerMillion, Math.max(1, Date.now() - started));
    }
    const busy = db.write((sql) => sql.rows(counting(Math.ceil((5000 / msPerMillion) * 1_000_000))));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [ready, health] = await Promise.all([
      request(t.app.getHttpServer()).get('/api/health/ready'),
      request(t.app.getHttpServer()).get('/api/health'),
    ]);
    expect(health.status).toBe(200);
    expect(ready.status).toBe(503);
    expect(ready.body.error).toMatchObject({ code: 'storage_unavailable' });
    expect(ready.body.error.message).toMatch(/no answer within 2000 ms/);
    await busy;
    expect((await request(t.app.getHttpServer()).get('/api/health/ready')).status).toBe(200);
  });
});
