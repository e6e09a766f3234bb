import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, Page, chromium } from 'playwright-core';
import { ROOT, RunningService, removeHome, startService, tempHome } from './harness';

/** Debian's chromium, headless, with nothing that talks to the internet on its own. */
export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

export const SCREENSHOTS = join(ROOT, 'docs', 'screenshots');

/**
 * Takes a full-page screenshot (the page must render); saves it for the README only under
 * `npm run screenshots`, so `npm test` leaves the tracked images alone.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ fullPage: true });
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  if (process.env.QUEUECTL_WRITE_SCREENSHOTS !== '1') return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  writeFileSync(join(SCREENSHOTS, `${name}.png`), png);
}

/**
 * Fails the test on anything the page could not load or run: a CSP violation, a script error,
 * a request that left the service.
 */
export function watchPage(page: Page, origin: string): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  page.on('console', (m) => {
    // A refused form answers 400/401/403/409 on purpose; the browser logs that, and it is no fault.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) problems.push(`request outside the service: ${r.url()}`);
  });
  page.on('dialog', (d) => void d.accept());
  return problems;
}

export interface BrowserSession {
  svc: RunningService;
  page: Page;
  /** What the page reported wrong (see watchPage). */
  problems: string[];
}

/**
 * For the tests of one describe block: a service on a temp home and a chromium page watched for
 * problems, started before them and stopped (home removed) after them. The fields are set once
 * the block's first beforeAll has run.
 */
export function serviceInBrowser(): BrowserSession {
  const session = {} as BrowserSession;
  let home: string | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    home = tempHome();
    session.svc = await startService(home);
    browser = await launchChromium();
    session.page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    session.problems = watchPage(session.page, session.svc.url);
  });
  afterAll(async () => {
    await browser?.close();
    await session.svc?.stop();
    if (home) removeHome(home);
  });
  return session;
}
