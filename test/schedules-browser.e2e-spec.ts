/// <reference lib="dom" />
import { Page } from 'playwright-core';
import { screenshot, serviceInBrowser } from './support/browser';
import { RunningService, api, waitFor } from './support/harness';

/** The Schedules page in a real browser: next runs that move on by themselves, pause, run now, remove. */
describe('schedules page in chromium', () => {
  const session = serviceInBrowser();
  let svc: RunningService;
  let page: Page;
  let problems: string[];
  beforeAll(() => {
    ({ svc, page, problems } = session);
  });

  it('shows next runs and the last job as ticks come, and pauses, runs now and removes from the page', async () => {
    expect((await api(svc, 'POST', '/api/schedules', { name: 'tick', every_seconds: 1, job: { command: 'echo tick' } })).status).toBe(201);
    await page.goto(`${svc.url}/login`);
    await page.fill('#token', svc.token);
    await page.click('button[type=submit]');
    await page.click('nav >> text=Schedules');
    await page.waitForSelector('tr[data-schedule="tick"]');
    expect(await page.locator('tr[data-schedule="tick"] [data-next-runs] time').count()).toBe(3);
    // The table refreshes by itself: the last job link changes as ticks are enqueued.
    const lastJob = () => page.locator('tr[data-schedule="tick"] a code').textContent();
    const first = await waitFor(lastJob, 5000, 'a last job on the page');
    await waitFor(async () => (await lastJob()) !== first, 5000, 'the page to show a newer tick');
    await screenshot(page, 'schedules');

    await page.click('tr[data-schedule="tick"] button:has-text("Pause")');
    await page.waitForSelector('tr[data-schedule="tick"] [data-paused]');
    expect((await api(svc, 'GET', '/api/schedules/tick')).body.paused).toBe(true);
    const before = (await api(svc, 'GET', '/api/status')).body.total;
    await page.click('tr[data-schedule="tick"] button:has-text("Run now")');
    await page.waitForSelector('.flash >> text=/Enqueued tick:run-/');
    expect((await api(svc, 'GET', '/api/status')).body.total).toBe(before + 1);
    await page.click('tr[data-schedule="tick"] button:has-text("Remove")');
    await page.waitForSelector('text=No schedules.');
    expect((await api(svc, 'GET', '/api/schedules/tick')).status).toBe(404);
    expect(problems).toEqual([]);
  });
});
