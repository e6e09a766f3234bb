import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { csrfOf } from './support/dashboard-client';
import { CLI, RunningService, api, cleanEnv, removeHome, startService, tempHome } from './support/harness';
import { TestApp, createTestApp } from './support/test-app';

/**
 * What an attacker (with or without the token) or a hostile environment does to a running
 * service: an oversized batch, wrong tokens, a disk that fills during reset, a command that is
 * not UTF-8. Each is refused with one line and changes nothing. Runs the built service in its
 * own process, so a blocked event loop shows in the time `/api/health` takes to answer.
 */

let svc: RunningService;
let home: string;

beforeAll(async () => {
  home = tempHome();
  svc = await startService(home);
});

afterAll(async () => {
  await svc?.stop();
  removeHome(home);
});

/** Asks `/api/health` every 50 ms until stopped; returns the slowest answer's time. */
function pollHealth(url: string): { stop(): Promise<{ polls: number; slowestMs: number }> } {
  let running = true;
  let polls = 0;
  let slowestMs = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const res = await fetch(`${url}/api/health`);
      await res.text();
      if (res.status !== 200) throw new Error(`health answered ${res.status}`);
      slowestMs = Math.max(slowestMs, performance.now() - started);
      polls += 1;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { polls, slowestMs };
    },
  };
}

describe('an oversized batch', () => {
  it('790,000 jobs in a 15 MB body are refused by count while /api/health keeps answering within a second', async () => {
    const body = JSON.stringify({ jobs: Array.from({ length: 790_000 }, () => ({ command: 'true' })) });
    expect(body.length).toBeGreaterThan(15_000_000);
    const poller = pollHealth(svc.url);
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch(`${svc.url}/api/jobs/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/json' },
      body,
    });
    const answer = await res.json();
    await new Promise((r) => setTimeout(r, 200));
    const { polls, slowestMs } = await poller.stop();
    expect({ status: res.status, code: answer.error?.code }).toEqual({ status: 413, code: 'payload_too_large' });
    expect(answer.error.message).toBe('jobs must hold at most 10000 jobs (got 790000)');
    expect(polls).toBeGreaterThan(3);
    // The bound: the service must stay responsive during any request.
    expect(slowestMs).toBeLessThan(1000);
    expect((await api(svc, 'GET', '/api/status')).body.counts.pending).toBe(0);
  }, 180_000);
});

describe('failed logins', () => {
  let own: RunningService;
  let ownHome: string;
  beforeAll(async () => {
    ownHome = tempHome();
    own = await startService(ownHome);
  });
  afterAll(async () => {
    await own?.stop();
    removeHome(ownHome);
  });

  it('wrong tokens on the API and the login form are counted per address; past 10 every login gets 429 with Retry-After; each is logged without the token', async () => {
    const guesses = Array.from({ length: 6 }, (_, i) => `guess-${i}-${'x'.repeat(30)}`);
    for (const guess of guesses) {
      const res = await api({ url: own.url, token: guess }, 'GET', '/api/status');
      expect(res.status).toBe(401);
    }
    const browser = request.agent(own.url);
    for (let i = 0; i < 4; i++) {
      const form = await browser.get('/login').expect(200);
      const res = await browser.post('/login').type('form').send({ _csrf: csrfOf(form.text), token: `form-guess-${i}-${'y'.repeat(30)}`, next: '/' });
      expect(res.status).toBe(401);
    }

    const refused = await fetch(`${own.url}/api/status`, { headers: { authorization: `Bearer ${own.token}` } });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await refused.json();
    expect(body.error).toEqual({ code: 'too_many_attempts', message: expect.stringMatching(/^too many failed logins from this address; try again in \d+ s$/), details: null });

    const form = await browser.get('/login').expect(200);
    const page = await browser.post('/login').type('form').send({ _csrf: csrfOf(form.text), token: own.token, next: '/' });
    expect(page.status).toBe(429);
    expect(page.headers['retry-after']).toMatch(/^\d+$/);
    expect(page.text).toContain('Too many failed logins');

    // The health check needs no login and is never throttled.
    expect((await fetch(`${own.url}/api/health`)).status).toBe(200);

    const log = own.output();
    expect(log.match(/failed login from \S+: wrong API token on GET \/api\/status/g)).toHaveLength(6);
    expect(log.match(/failed login from \S+: wrong token in the dashboard login form on POST \/login/g)).toHaveLength(4);
    for (const guess of guesses) expect(log).not.toContain(guess);
    expect(log).not.toContain('form-guess');
    expect(log).not.toContain(own.token);
  });
});

describe('reset when the backup cannot be written', () => {
  let own: RunningService;
  let ownHome: string;
  afterAll(async () => {
    await own?.stop();
    if (ownHome) removeHome(ownHome);
  });

  it('leaves no partial backup and deletes nothing; with room again it backs up and resets', async () => {
    ownHome = tempHome();
    own = await startService(ownHome);
    const jobs = Array.from({ length: 400 }, (_, i) => ({ id: `keep-${i}`, command: `echo ${'k'.repeat(8000)}` }));
    expect((await api(own, 'POST', '/api/jobs/batch', { jobs })).status).toBe(201);
    const dbBytes = statSync(join(ownHome, 'queue.db')).size + statSync(join(ownHome, 'queue.db-wal')).size;
    expect(dbBytes).toBeGreaterThan(3_000_000);
    // Files this process writes may not grow past 1 MB from now on: the copy runs out of room
    // as it would on a full disk (Node ignores SIGXFSZ, so the write fails with EFBIG).
    execFileSync('prlimit', ['--pid', String(own.pid), '--fsize=1000000:unlimited']);
    const refused = await api(own, 'POST', '/api/reset');
    expect(refused.status).toBe(503);
    expect(refused.body.error).toEqual({ code: 'storage_unavailable', message: expect.stringMatching(/^storage unavailable: [^\n]+$/), details: null });
    expect(existsSync(join(ownHome, 'backups')) ? readdirSync(join(ownHome, 'backups')) : []).toEqual([]);
    expect((await api(own, 'GET', '/api/status')).body.counts.pending).toBe(400);

    execFileSync('prlimit', ['--pid', String(own.pid), '--fsize=unlimited:unlimited']);
    const reset = await api(own, 'POST', '/api/reset');
    expect(reset.status).toBe(200);
    expect(reset.body.deleted).toBe(400);
    expect(readdirSync(join(ownHome, 'backups'))).toHaveLength(1);
    expect(statSync(reset.body.backup).size).toBeGreaterThan(3_000_000);
    expect(statSync(reset.body.backup).mode & 0o777).toBe(0o600);
  });
});

describe('a command that is not UTF-8', () => {
  /** Runs the CLI through /bin/sh so that printf can put raw bytes into its arguments. */
  function cliViaShell(script: string): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('/bin/sh', ['-c', script], { env: cleanEnv({ QUEUECTL_HOME: home, CLI }), encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('is refused by the CLI with a clear line, as enqueue JSON or run words, and nothing is stored', async () => {
    const before = (await api(svc, 'GET', '/api/jobs')).body.jobs.length;
    const asJson = cliViaShell(`exec "${process.execPath}" "$CLI" enqueue "$(printf '{"id":"latin1","command":"echo caf\\351"}')"`);
    expect(asJson.status).toBe(2);
    expect(asJson.stderr).toMatch(/^queuectl: argument 2 \(.*\) holds bytes that are not UTF-8: commands and every other argument must be UTF-8 [^\n]*\n$/);
    const asWords = cliViaShell(`exec "${process.execPath}" "$CLI" run -- echo "$(printf 'caf\\351')"`);
    expect(asWords.status).toBe(2);
    expect(asWords.stderr).toMatch(/^queuectl: argument 4 \("caf\uFFFD"\) holds bytes that are not UTF-8/);
    expect((await api(svc, 'GET', '/api/jobs')).body.jobs.length).toBe(before);

    // UTF-8, and a U+FFFD typed on purpose, pass.
    const utf8 = cliViaShell(`exec "${process.execPath}" "$CLI" enqueue '{"id":"utf8","command":"echo café 🙂 \uFFFD"}'`);
    expect(utf8).toMatchObject({ status: 0, stderr: '' });
    expect((await api(svc, 'GET', '/api/jobs/utf8')).body.command).toBe('echo café 🙂 \uFFFD');
  });
});

describe('failed logins behind a reverse proxy (QUEUECTL_TRUST_PROXY)', () => {
  const wrong = (t: TestApp, forwardedFor: string) =>
    request(t.app.getHttpServer()).get('/api/status').set('Authorization', `Bearer wrong-${'z'.repeat(30)}`).set('X-Forwarded-For', forwardedFor);
  const right = (t: TestApp, forwardedFor: string) => request(t.app.getHttpServer()).get('/api/status').set(t.auth).set('X-Forwarded-For', forwardedFor);

  it('counts each client the trusted proxy names on its own, so one bad client does not lock out the others behind the proxy', async () => {
    const t = await createTestApp({ env: { QUEUECTL_TRUST_PROXY: 'loopback' }, logLevels: [] });
    try {
      for (let i = 0; i < 10; i++) expect((await wrong(t, '10.0.0.1')).status).toBe(401);
      expect((await right(t, '10.0.0.1')).status).toBe(429);
      expect((await right(t, '10.0.0.2')).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('believes no X-Forwarded-For by default, so a client cannot dodge the count by naming another address', async () => {
    const t = await createTestApp({ logLevels: [] });
    try {
      for (let i = 0; i < 10; i++) expect((await wrong(t, `10.0.0.${i}`)).status).toBe(401);
      expect((await right(t, '10.0.1.1')).status).toBe(429);
    } finally {
      await t.close();
    }
  });
});
