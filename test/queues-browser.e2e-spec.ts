/// <reference lib="dom" />
import { Page } from 'playwright-core';
import { screenshot, serviceInBrowser } from './support/browser';
import { RunningService, api } from './support/harness';

/** The Queues page in a real browser: a person pauses a queue, sets a limit (a bad one first), resumes it. */
describe('Queues page in chromium', () => {
  const session = serviceInBrowser();
  let svc: RunningService;
  let page: Page;
  let problems: string[];
  beforeAll(() => {
    ({ svc, page, problems } = session);
  });
  afterEach(() => {
    expect(problems).toEqual([]);
  });

  it('pauses a queue, refuses a bad limit, sets a good one, resumes; the job page links its queue', async () => {
    await api(svc, 'POST', '/api/jobs', { id: 'mail-1', queue: 'mail', command: 'true' });
    await page.goto(`${svc.url}/login`);
    await page.fill('#token', svc.token);
    await page.click('button[type=submit]');
    await page.click('nav >> text=Queues');
    await page.waitForSelector('tr[data-queue="mail"]');
    expect(await page.textContent('tr[data-queue="mail"] [data-count="pending"]')).toBe('1');

    await page.click('tr[data-queue="mail"] >> button:has-text("Pause")');
    await page.waitForSelector('text=Paused queue mail');
    await page.waitForSelector('tr[data-queue="mail"] [data-paused]');
    expect((await api(svc, 'GET', '/api/queues/mail')).body.paused).toBe(true);
    await screenshot(page, 'queues');

    await page.fill('tr[data-queue="mail"] input[name=concurrency]', '-2');
    await page.click('tr[data-queue="mail"] >> button:has-text("Set")');
    await page.waitForSelector('[data-error]');
    expect(await page.textContent('[data-error]')).toContain('concurrency must be 0 (no limit) or more');
    expect((await api(svc, 'GET', '/api/queues/mail')).body.concurrency).toBe(0);

    await page.fill('tr[data-queue="mail"] input[name=concurrency]', '3');
    await page.click('tr[data-queue="mail"] >> button:has-text("Set")');
    await page.waitForSelector('text=Queue mail: at most 3 at once.');
    await page.click('tr[data-queue="mail"] >> button:has-text("Resume")');
    await page.waitForSelector('text=Resumed queue mail.');
    expect((await api(svc, 'GET', '/api/queues/mail')).body).toMatchObject({ paused: false, concurrency: 3 });

    await page.goto(`${svc.url}/jobs/mail-1`);
    expect(await page.textContent('[data-fact="queue"]')).toBe('mail');
    await page.click('[data-fact="queue"] a');
    await page.waitForSelector('#queue-mail');
  });
});
