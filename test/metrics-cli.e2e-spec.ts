import { RunningService, api, removeHome, runCli, startService, tempHome } from './support/harness';

/** `queuectl metrics` against the built, spawned service. */
describe('queuectl metrics', () => {
  let home: string;
  let svc: RunningService;

  beforeAll(async () => {
    home = tempHome();
    svc = await startService(home);
  });
  afterAll(async () => {
    await svc?.stop();
    removeHome(home);
  });

  it('prints the same figures as GET /api/metrics, as JSON and for people', async () => {
    await api(svc, 'POST', '/api/jobs/batch', { jobs: [{ command: 'true' }, { command: 'true' }, { command: 'false' }] });
    await api(svc, 'POST', '/api/jobs', { id: 'cancelled-one', command: 'true' });
    await api(svc, 'POST', '/api/jobs/cancelled-one/cancel');

    const json = await runCli(['metrics', '--json'], home);
    expect(json.code).toBe(0);
    const fromCli = JSON.parse(json.stdout);
    const { body: fromApi } = await api(svc, 'GET', '/api/metrics');
    expect(fromCli.counts).toEqual(fromApi.counts);
    expect(fromCli.counts).toMatchObject({ pending: 3, dead: 1 });
    expect(fromCli.per_minute).toHaveLength(60);

    const human = await runCli(['metrics'], home);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^pending\s+3$/m);
    expect(human.stdout).toMatch(/^dead\s+1$/m);
    expect(human.stdout).toMatch(/^queue latency\s+\S/m);
    expect(human.stdout).toMatch(/^workers\s+0 active, 0 jobs running$/m);

    const short = await runCli(['metrics', '--minutes', '5', '--json'], home);
    expect(JSON.parse(short.stdout).per_minute).toHaveLength(5);
  });

  it('refuses a bad window with exit code 2 and one line', async () => {
    const res = await runCli(['metrics', '--minutes', '0'], home);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain('1 to 1440');
  });
});
