import { AddressInfo } from 'node:net';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { HttpWorkerApi } from './http-worker-api';

/**
 * The worker's side of a report's tries, against a real HTTP server on loopback: the first try
 * says it is one (the service then skips looking for a kept answer), every retry of the same
 * report carries the same id and does not, whether the first try was refused for a while (503)
 * or its answer was lost with the connection after the server had read it.
 */
describe('HttpWorkerApi report tries', () => {
  let server: Server;
  let url: string;
  let reports: Array<Record<string, unknown>>;
  /** How the server treats the n-th report it reads (0-based); answers normally past the list. */
  let plan: Array<'503' | 'drop'>;

  beforeEach(async () => {
    reports = [];
    plan = [];
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
        res.setHeader('content-type', 'application/json');
        if (req.url === '/api/workers/register') return res.end(JSON.stringify({ id: 'w-test', lease_timeout_ms: 30_000, heartbeat_interval_ms: 5000 }));
        if (req.url !== '/api/workers/w-test/report') return res.writeHead(404).end('{}');
        const n = reports.push(body) - 1;
        if (plan[n] === '503') return res.writeHead(503).end(JSON.stringify({ error: { code: 'storage_unavailable', message: 'busy' } }));
        // Read and (as far as the worker can tell) perhaps acted on, but never answered.
        if (plan[n] === 'drop') return req.socket.destroy();
        res.end(JSON.stringify({ refused: [], jobs: [] }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function registered(): Promise<HttpWorkerApi> {
    const api = new HttpWorkerApi({ url, token: 't' }, () => undefined, () => undefined);
    await api.register({ hostname: 'h', pid: 1, concurrency: 1 });
    return api;
  }

  it('marks a report answered at once as its first try', async () => {
    const api = await registered();
    await api.report([], [], 1);
    await api.report([], [], 1);
    expect(reports.map((r) => r.first_try)).toEqual([true, true]);
    // Two reports, two ids.
    expect(new Set(reports.map((r) => r.report_id)).size).toBe(2);
  });

  it.each([
    { fault: '503' as const, why: 'was refused for a while (503)' },
    { fault: 'drop' as const, why: 'lost its answer with the connection' },
  ])('after a first try that $why, retries keep the id and drop the flag', async ({ fault }) => {
    const api = await registered();
    plan = [fault, fault];
    await api.report([], [], 2);
    expect(reports).toHaveLength(3);
    expect(reports.map((r) => r.first_try)).toEqual([true, undefined, undefined]);
    expect(new Set(reports.map((r) => r.report_id)).size).toBe(1);
    expect(reports.every((r) => r.claim === 2)).toBe(true);
  });
});
