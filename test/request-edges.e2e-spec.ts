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
