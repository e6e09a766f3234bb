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
    await page.goto(`${svc.url}/jobs?state=pending`);
    expect(await page.locator('tr[data-job]').count()).toBe(1);
    await api(svc, 'POST', '/api/jobs', { id: 'arrives-later', command: 'echo later' });
    await page.waitForSelector('tr[data-job="arrives-later"]', { timeout: 10_000 });
    expect(await page.inputValue('select[name=state]')).toBe('pending');
    expect(page.url()).toBe(`${svc.url}/jobs?state=pending`);
    await api(svc, 'POST', '/api/jobs/arrives-later/cancel');
    await page.waitForSelector('tr[data-job="arrives-later"]', { state: 'detached', timeout: 10_000 });
  });

  it('retries a dead job from the DLQ', async () => {
    await page.goto(`${svc.url}/dlq`);
    await page.waitForSelector('tr[data-job="arrives-later"]');
    await screenshot(page, 'dlq');
    await page.click('tr[data-job="arrives-later"] button');
    await page.waitForSelector('text=Job arrives-later is pending again');
    expect((await api(svc, 'GET', '/api/jobs/arrives-later')).body).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await page.locator('tr[data-job]').count()).toBe(0);
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
