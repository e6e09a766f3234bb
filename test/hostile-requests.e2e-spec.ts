import { RunningService, api, removeHome, startService, tempHome } from './support/harness';

/**
 * Requests an attacker (with or without the token) would send to a running service: each is
 * refused with the error envelope, changes nothing, and leaves the service answering others.
 * Runs the built service in its own process, so a blocked event loop shows in the time
 * `/api/health` takes to answer this process.
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
