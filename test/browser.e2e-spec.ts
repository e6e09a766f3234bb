/// <reference lib="dom" />
import { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, screenshot, watchPage } from './support/browser';
import { RunningService, api, removeHome, startService, tempHome, waitFor } from './support/harness';

/**
 * The dashboard in a real browser against the built, spawned service: a person logs in,
 * enqueues, watches, retries from the DLQ and changes a setting, without reloading by hand.
 */
describe('dashboard in chromium', () => {
  let home: string;
  let svc: RunningService;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let other: Page;
  let otherProblems: string[];

  beforeAll(async () => {
    home = tempHome();
    svc = await startService(home);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    problems = watchPage(page, svc.url);
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    removeHome(home);
  });
  afterEach(() => {
    expect(problems).toEqual([]);
  });

  it('refuses a wrong token, then logs in', async () => {
    await page.goto(`${svc.url}/jobs`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('#token', 'certainly-not-the-token');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=That token is not the token of this queue.');
    await screenshot(page, 'login');
    await page.fill('#token', svc.token);
    await page.click('button[type=submit]');
    await page.waitForURL(`${svc.url}/jobs`);
    const cookie = (await context.cookies()).find((c) => c.name === 'queuectl_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('shows a bad enqueue back, then enqueues through the form', async () => {
    await page.click('nav >> text=Enqueue');
    await page.fill('#command', 'echo from the browser; sleep 1; echo done');
    await page.fill('input[name=id]', 'browser-1');
    await page.fill('input[name=priority]', 'soon');
    await page.click('form.stack button[type=submit]');
    await page.waitForSelector('[data-error]');
    expect(await page.textContent('[data-error]')).toContain('priority must be a whole number');
    expect(await page.inputValue('#command')).toBe('echo from the browser; sleep 1; echo done');
    expect((await api(svc, 'GET', '/api/jobs/browser-1')).status).toBe(404);
    await screenshot(page, 'enqueue-refused');

    await page.fill('input[name=priority]', '3');
    await page.click('form.stack button[type=submit]');
    await page.waitForURL(`${svc.url}/jobs/browser-1`);
    await page.waitForSelector('text=Enqueued job browser-1.');
    expect((await api(svc, 'GET', '/api/jobs/browser-1')).body).toMatchObject({ state: 'pending', priority: 3 });
  });

  it('sees the job table refresh by itself, keeping the filter', async () => {
    other = await context.newPage();
    otherProblems = watchPage(other, svc.url);
    await other.goto(`${svc.url}/jobs?state=pending`);
    expect(await other.locator('tr[data-job]').count()).toBe(1);
    await api(svc, 'POST', '/api/jobs', { id: 'arrives-later', command: 'echo later' });
    await other.waitForSelector('tr[data-job="arrives-later"]', { timeout: 10_000 });
    expect(await other.inputValue('select[name=state]')).toBe('pending');
    expect(other.url()).toBe(`${svc.url}/jobs?state=pending`);
    await screenshot(other, 'jobs');
    await api(svc, 'POST', '/api/jobs/arrives-later/cancel');
    await other.waitForSelector('tr[data-job="arrives-later"]', { state: 'detached', timeout: 10_000 });
  });

  it('retries a dead job from the DLQ', async () => {
    await other.goto(`${svc.url}/dlq`);
    await other.waitForSelector('tr[data-job="arrives-later"]');
    await screenshot(other, 'dlq');
    await other.click('tr[data-job="arrives-later"] button');
    await other.waitForSelector('text=Job arrives-later is pending again');
    expect((await api(svc, 'GET', '/api/jobs/arrives-later')).body).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await other.locator('tr[data-job]').count()).toBe(0);
  });

  it('starts workers, and watches the job complete without reloading, then opens its output', async () => {
    // The job page from the enqueue is still open; mark it to prove it is never reloaded.
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    expect(await page.textContent('.job-state')).toContain('pending');

    await other.goto(`${svc.url}/workers`);
    await other.fill('#count', 'lots');
    await other.click('text=Start workers');
    await other.waitForSelector('[data-error]');
    expect(await other.textContent('[data-error]')).toContain('count must be a whole number');
    await other.fill('#count', '2');
    await other.click('text=Start workers');
    await other.waitForSelector('text=Started 2 workers.');
    await other.waitForFunction(() => document.querySelectorAll('tr[data-worker]').length === 2, undefined, { timeout: 20_000 });

    await page.waitForSelector('.job-state .state-completed', { timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(await page.textContent('[data-fact="exit-code"]')).toBe('0');
    const output = page.locator('details.run[data-run="1"] pre.output');
    await output.waitFor();
    expect(await output.textContent()).toBe('from the browser\ndone\n');
    await screenshot(page, 'job');
    await waitFor(async () => (await api(svc, 'GET', '/api/jobs/arrives-later')).body.state === 'completed', 20_000, 'the retried job to complete');

    // Some traffic for the overview: quick jobs, and a few that fail for good.
    const jobs = [...Array.from({ length: 24 }, (_, i) => ({ command: `echo ${i}` })), ...Array.from({ length: 3 }, () => ({ command: 'exit 1', max_retries: 0 }))];
    await api(svc, 'POST', '/api/jobs/batch', { jobs });
    await page.goto(`${svc.url}/`);
    await page.waitForSelector('rect.bar-failed', { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelector('[data-state="completed"] .n')?.textContent === '26', undefined, { timeout: 20_000 });
    await screenshot(page, 'overview');
  });

  it("shows a running job's output live, escapes and bytes that are not UTF-8 made visible, never as markup", async () => {
    await api(svc, 'POST', '/api/jobs', { id: 'odd-output', command: `printf '\\033[1mbold\\033[0m \\377 🚀'; sleep 3; printf ' <b>more</b>\\n'` });
    await page.goto(`${svc.url}/jobs/odd-output`);
    const output = page.locator('details.run pre.output');
    await output.waitFor({ timeout: 20_000 });
    // The first part, shown while the job still runs, refreshed in place.
    await page.waitForFunction(() => document.querySelector('pre.output')?.textContent?.includes('🚀'), undefined, { timeout: 20_000 });
    expect(await output.textContent()).toBe('\\x1b[1mbold\\x1b[0m \\xff 🚀');
    expect((await api(svc, 'GET', '/api/jobs/odd-output')).body.state).toBe('processing');
    await page.waitForSelector('.job-state .state-completed', { timeout: 20_000 });
    expect(await output.textContent()).toBe('\\x1b[1mbold\\x1b[0m \\xff 🚀 <b>more</b>\n');
    expect(await page.locator('pre.output b').count()).toBe(0);
  });

  it('stops one worker, then all', async () => {
    await other.goto(`${svc.url}/workers`);
    await screenshot(other, 'workers');
    const first = await other.getAttribute('tr[data-worker] >> nth=0', 'data-worker');
    await other.click(`tr[data-worker="${first}"] button`);
    await other.waitForSelector(`text=Asked worker ${first} to stop`);
    await other.waitForFunction((id) => !document.querySelector(`tr[data-worker="${id}"]`), first, { timeout: 20_000 });
    expect(await other.locator('tr[data-worker]').count()).toBe(1);
    await other.click('text=Stop all');
    await other.waitForSelector('text=Asked 1 worker to stop');
    await other.waitForSelector('text=No worker is running.', { timeout: 20_000 });
    expect((await api(svc, 'GET', '/api/workers')).body.workers).toEqual([]);
    expect(otherProblems).toEqual([]);
    await other.close();
  });

  it('changes a setting, and sees a bad value refused', async () => {
    await page.click('nav >> text=Config');
    await page.fill('#set-backoff-base', 'twice');
    await page.click('form[data-key="backoff-base"] button');
    await page.waitForSelector('form[data-key="backoff-base"] [data-error]');
    expect(await page.textContent('form[data-key="backoff-base"] [data-error]')).toContain('backoff-base must be a number from 1 to 100');
    expect((await api(svc, 'GET', '/api/config/backoff-base')).body.value).toBe(2);
    await page.fill('#set-max-retries', '4');
    await page.click('form[data-key="max-retries"] button');
    await page.waitForSelector('text=max-retries is now 4.');
    expect((await api(svc, 'GET', '/api/config/max-retries')).body.value).toBe(4);
    await screenshot(page, 'config');
  });

  it('is usable at phone width', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await phone.addCookies(await context.cookies());
    const p = await phone.newPage();
    const phoneProblems = watchPage(p, svc.url);
    await p.goto(`${svc.url}/`);
    await p.waitForSelector('.counts');
    // Nothing wider than the screen but the tables, which scroll inside their own box.
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(p, 'phone-overview');
    await p.goto(`${svc.url}/jobs`);
    expect(await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    await screenshot(p, 'phone-jobs');
    expect(phoneProblems).toEqual([]);
    await phone.close();
  });

  it('logs out', async () => {
    await page.goto(`${svc.url}/`);
    await page.click('text=Log out');
    await page.waitForURL(`${svc.url}/login`);
    await page.goto(`${svc.url}/dlq`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });

  it('loads nothing from outside and breaks no CSP rule', async () => {
    await waitFor(() => problems.length === 0, 100, 'no problems');
  });
});
