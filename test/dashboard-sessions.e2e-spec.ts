import request from 'supertest';
import { csrfOf } from './support/dashboard-client';
import { ManualClock } from './support/manual-clock';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Dashboard sessions behind a round-robin proxy: two service instances with the same token (the
 * replicas of one queue) serve one browser, each request going to either, and a restart logs
 * nobody out. Sessions, CSRF tokens and flash messages are signed cookies, so no server keeps them.
 */
describe('dashboard sessions across replicas', () => {
  let one: TestApp;
  let two: TestApp;
  const clock = new ManualClock();
  const http = (t: TestApp) => request(t.app.getHttpServer());
  const cookieOf = (res: request.Response, name: string): string | undefined =>
    ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`))?.split(';')[0];
  /** Logs in through `t` and returns the session cookie (`queuectl_session=…`). */
  const login = async (t: TestApp, token = t.token): Promise<string> => {
    const form = await http(t).get('/login').expect(200);
    const res = await http(t)
      .post('/login')
      .set('Cookie', cookieOf(form, 'queuectl_session')!)
      .type('form')
      .send({ _csrf: csrfOf(form.text), token, next: '/' })
      .expect(303);
    return cookieOf(res, 'queuectl_session')!;
  };

  beforeAll(async () => {
    one = await createTestApp({ clock });
    two = await createTestApp({ clock });
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
  });

  it('logs in on one replica, and the other serves its pages and accepts its forms (CSRF included), with the flash message shown by either', async () => {
    const form = await http(one).get('/login').expect(200);
    const anonymous = cookieOf(form, 'queuectl_session')!;
    // The login form came from replica one; its post goes to replica two.
    const res = await http(two)
      .post('/login')
      .set('Cookie', anonymous)
      .type('form')
      .send({ _csrf: csrfOf(form.text), token: one.token, next: '/workers' })
      .expect(303);
    expect(res.headers.location).toBe('/workers');
    const session = cookieOf(res, 'queuectl_session')!;
    expect(session).not.toBe(anonymous);

    const page = await http(one).get('/config').set('Cookie', session).expect(200);
    const saved = await http(two)
      .post('/config')
      .set('Cookie', session)
      .type('form')
      .send({ _csrf: csrfOf(page.text), key: 'max-retries', value: '7' })
      .expect(303);
    const flash = cookieOf(saved, 'queuectl_flash')!;
    expect(flash).toBeDefined();
    const shown = await http(one).get('/config').set('Cookie', `${session}; ${flash}`).expect(200);
    expect(shown.text).toContain('max-retries is now 7.');
    // Shown once: the page clears it.
    expect(String(shown.headers['set-cookie'])).toMatch(/queuectl_flash=;/);
    expect((await http(two).get('/api/config/max-retries').set(two.auth)).body.value).toBe(7);
  });

  it('keeps a browser logged in across a restart of the service', async () => {
    const session = await login(one);
    await http(one).get('/').set('Cookie', session).expect(200);
    await one.close();
    one = await createTestApp({ clock });
    await http(one).get('/').set('Cookie', session).expect(200);
  });

  it('refuses a cookie whose claims were changed, one signed with another token, and an expired one', async () => {
    const form = await http(one).get('/login').expect(200);
    const [body, mac] = cookieOf(form, 'queuectl_session')!.slice('queuectl_session='.length).split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    expect(claims.auth).toBe(false);
    const promoted = Buffer.from(JSON.stringify({ ...claims, auth: true })).toString('base64url');
    await http(one).get('/').set('Cookie', `queuectl_session=${promoted}.${mac}`).expect(303).expect('location', '/login');

    const other = await createTestApp({ clock, token: 'another-token-0123456789abcdef' });
    try {
      const foreign = await login(other, 'another-token-0123456789abcdef');
      await http(other).get('/').set('Cookie', foreign).expect(200);
      await http(one).get('/').set('Cookie', foreign).expect(303);
    } finally {
      await other.close();
    }

    const session = await login(one);
    clock.advance(12 * 3600_000 + 1);
    await http(two).get('/').set('Cookie', session).expect(303);
  });

  it('slides the idle window: a page visited late in it sends a fresh cookie that outlives the first', async () => {
    const session = await login(one);
    clock.advance(4 * 3600_000);
    const res = await http(one).get('/').set('Cookie', session).expect(200);
    const renewed = cookieOf(res, 'queuectl_session');
    expect(renewed).toBeDefined();
    clock.advance(9 * 3600_000);
    // 13 h after login, 9 h after the renewal.
    await http(two).get('/').set('Cookie', session).expect(303);
    await http(two).get('/').set('Cookie', renewed!).expect(200);
  });

  it('shows a flash message only to the session that caused it', async () => {
    const mine = await login(one);
    const page = await http(one).get('/config').set('Cookie', mine).expect(200);
    const saved = await http(one).post('/config').set('Cookie', mine).type('form').send({ _csrf: csrfOf(page.text), key: 'max-retries', value: '4' }).expect(303);
    const flash = cookieOf(saved, 'queuectl_flash')!;
    const theirs = await login(two);
    const shown = await http(two).get('/config').set('Cookie', `${theirs}; ${flash}`).expect(200);
    expect(shown.text).not.toContain('max-retries is now 4.');
    const mineShown = await http(two).get('/config').set('Cookie', `${mine}; ${flash}`).expect(200);
    expect(mineShown.text).toContain('max-retries is now 4.');
  });
});
