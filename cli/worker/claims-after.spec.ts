import { ClaimsAfter } from './claims-after';
import { CallAborted } from './http-worker-api';
import { ClaimAnswer, Registration, WorkerApi } from './worker-api';

/** An API that records which calls reached it. */
function recordingApi(calls: string[]): WorkerApi {
  const registration: Registration = { id: 'w-1', heartbeat_interval_ms: 5000, lease_timeout_ms: 30_000, output_limit_bytes: 1024 };
  const answer: ClaimAnswer = { jobs: [], stop: false };
  return {
    register: async () => (calls.push('register'), registration),
    claim: async (limit) => (calls.push(`claim ${limit}`), answer),
    report: async (_results, _released, claim) => (calls.push(`report ${claim}`), { ...answer, refused: [] }),
    heartbeat: async () => (calls.push('heartbeat'), { ...registration, stop: false, cancel: [], lost: [] }),
    output: async () => (calls.push('output'), { refused: [] }),
    stopping: async () => void calls.push('stopping'),
    deregister: async () => void calls.push('deregister'),
  };
}

function gate(): { ready: Promise<void>; open: () => void } {
  let open!: () => void;
  const ready = new Promise<void>((resolve) => (open = resolve));
  return { ready, open };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ClaimsAfter', () => {
  it('registers and beats at once but sends no claim before it is ready', async () => {
    const calls: string[] = [];
    const { ready, open } = gate();
    const api = new ClaimsAfter(recordingApi(calls), ready);
    await api.register({ hostname: 'h', pid: 1, concurrency: 2 });
    const claimed = api.claim(2, 1000);
    await api.heartbeat([]);
    await tick();
    expect(calls).toEqual(['register', 'heartbeat']);
    open();
    await claimed;
    expect(calls).toEqual(['register', 'heartbeat', 'claim 2']);
  });

  it('drops a claim whose worker stopped while it waited', async () => {
    const calls: string[] = [];
    const { ready, open } = gate();
    const api = new ClaimsAfter(recordingApi(calls), ready);
    const quit = new AbortController();
    const claimed = api.claim(2, 1000, { signal: quit.signal });
    quit.abort();
    open();
    await expect(claimed).rejects.toBeInstanceOf(CallAborted);
    expect(calls).toEqual([]);
  });

  it('once ready, claims like the API it wraps, reports included', async () => {
    const calls: string[] = [];
    const api = new ClaimsAfter(recordingApi(calls), Promise.resolve());
    await api.claim(1, 1000);
    await api.report([], [], 3);
    await api.stopping();
    await api.deregister();
    expect(calls).toEqual(['claim 1', 'report 3', 'stopping', 'deregister']);
  });
});
