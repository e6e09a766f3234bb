import { RunningService, api, removeHome, runCli, startService, tempHome, waitFor } from './support/harness';

/**
 * Schedules through the CLI against a real service process, on the real clock: an interval
 * schedule ticking, catch-up across a restart of the service, and the CLI's refusals.
 */
describe('queuectl schedule', () => {
  let home: string;
  let svc: RunningService | undefined;

  beforeEach(() => {
    home = tempHome();
  });
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
    removeHome(home);
  });

  const cli = (...args: string[]) => runCli(['--url', svc!.url, '--token', svc!.token, ...args], home);
  /** The ticks (epoch ms) of a schedule's jobs, from their ids `<name>:<tick>`. */
  const ticksOf = async (name: string): Promise<number[]> => {
    const jobs: Array<{ id: string }> = (await api(svc!, 'GET', '/api/jobs?limit=1000')).body.jobs;
    return jobs
      .filter((j) => j.id.startsWith(`${name}:`))
      .map((j) => Number(j.id.slice(name.length + 1)))
      .sort((a, b) => a - b);
  };
  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

  it('--every 2s enqueues one job per tick', async () => {
    svc = await startService(home);
    const added = await cli('schedule', 'add', 'beat', '--every', '2s', '--json', '--', 'echo', 'beat');
    expect(added).toMatchObject({ code: 0, stderr: '' });
    const created = Date.parse(JSON.parse(added.stdout).created_at);
    await sleepUntil(created + 5200);
    const seen = Date.now();
    const ticks = await ticksOf('beat');
    // Every multiple of 2 s after the schedule was added, up to now, once: 2 or 3 of them.
    const expected: number[] = [];
    for (let t = Math.floor(created / 2000) * 2000 + 2000; t <= seen - 300; t += 2000) expected.push(t);
    expect(ticks.slice(0, expected.length)).toEqual(expected);
    expect(ticks.length - expected.length).toBeLessThanOrEqual(1); // a tick right at the end
    expect(ticks.every((t) => t > created && t <= seen && t % 2000 === 0)).toBe(true);
    const job = (await api(svc, 'GET', `/api/jobs/beat:${ticks[0]}`)).body;
    expect(job).toMatchObject({ command: 'echo beat', state: 'pending' });

    const list = await cli('schedule', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+WHEN\s+NEXT RUN\s+LAST RUN\s+STATE\s+COMMAND\nbeat\s+every 2s\s+(now|in [12]s)\s+(now|\ds ago)\s+active\s+echo beat\n$/);
  });

  it('after the service was down for three ticks: catch-up one enqueues the latest, all each, none none', async () => {
    svc = await startService(home);
    for (const mode of ['one', 'all', 'none']) expect((await cli('schedule', 'add', mode, '--every', '4s', '--catch-up', mode, '--', 'true')).code).toBe(0);
    // A tick all three enqueued (the latest so far), then the service stops before the next one.
    const first = (await waitFor(async () => {
      const latest = (await Promise.all(['one', 'all', 'none'].map(ticksOf))).map((t) => t[t.length - 1]);
      return latest.every((t) => t !== undefined && t === latest[0]) ? latest[0] : undefined;
    }, 15_000, 'a tick of every schedule'))!;
    await svc.stop();
    expect(Date.now()).toBeLessThan(first + 4000);
    // Down through the ticks at +4 s, +8 s and +12 s; back just after the last of them, so the
    // first pass (at start) comes well before the next tick at +16 s.
    await sleepUntil(first + 12_100);
    svc = await startService(home);
    await waitFor(async () => (await ticksOf('one')).some((t) => t > first), 10_000, 'the catch-up of schedule "one"');
    // The first pass after the restart ran at `pass` (its job's creation): on a loaded machine
    // that may be after +16 s, so what was missed is every tick after `first` up to then.
    const caughtUpJob = (await api(svc, 'GET', `/api/jobs/one:${(await ticksOf('one')).find((t) => t > first)}`)).body;
    const pass = Date.parse(caughtUpJob.created_at);
    const latest = Math.floor(pass / 4000) * 4000;
    expect(latest).toBeGreaterThanOrEqual(first + 12_000);
    const missed: number[] = [];
    for (let t = first + 4000; t <= latest; t += 4000) missed.push(t);
    const caughtUp = (ticks: number[]) => ticks.filter((t) => t > first && t <= latest);
    expect(caughtUp(await ticksOf('one'))).toEqual([latest]);
    expect(caughtUp(await ticksOf('all'))).toEqual(missed);
    expect(caughtUp(await ticksOf('none'))).toEqual([]);
    // And each goes on with the next tick.
    await waitFor(async () => (await Promise.all(['one', 'all', 'none'].map(ticksOf))).every((t) => t.includes(latest + 4000)), 10_000, 'the tick after the catch-up');
  });

  it('add, show, pause, resume, run and remove; bad input is one line and changes nothing', async () => {
    svc = await startService(home);
    const add = ['schedule', 'add', 'nightly', '--cron', '0 3 * * *', '--tz', 'Europe/Berlin', '--retries', '2', '--queue', 'backups', '--cwd', '/srv', '--env', 'MODE=full'];
    expect((await cli(...add, '--', './backup.sh', '--full', 'my db')).code).toBe(0);
    const show = await cli('schedule', 'show', 'nightly');
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(
      /^name {9}nightly\nwhen {9}cron 0 3 \* \* \* \(Europe\/Berlin\)\ncatch-up {5}one\nstate {8}active\ncommand {6}\.\/backup\.sh --full 'my db'\ndirectory {4}\/srv\nvariables {4}MODE\njob options {2}\{"max_retries":2,"queue":"backups"\}\n/,
    );
    expect(show.stdout.match(/^ {2}\d{4}-\d\d-\d\d \d\d:00:00 \(in /gm)).toHaveLength(5);

    const refusals: Array<[string[], number, RegExp]> = [
      [['schedule', 'add', 'x', '--cron', '61 * * * *', '--', 'true'], 2, /^queuectl: cron expression "61 \* \* \* \*" is not valid: .*\n$/],
      [['schedule', 'add', 'x', '--cron', '0 * * * *', '--tz', 'Mars/Base', '--', 'true'], 2, /^queuectl: unknown time zone "Mars\/Base"/],
      [['schedule', 'add', 'x', '--every', '2x', '--', 'true'], 2, /^queuectl: option '--every <duration>' argument '2x' is invalid/],
      [['schedule', 'add', 'x', '--every', '1.5s', '--', 'true'], 2, /expected a whole number of seconds, at least 1/],
      [['schedule', 'add', 'x', '--', 'true'], 2, /^queuectl: give --cron <expr> or --every <duration> \(one of them\)\n$/],
      [['schedule', 'add', 'x', '--every', '5s', '--catch-up', 'some', '--', 'true'], 2, /argument 'some' is invalid. Allowed choices are none, one, all/],
      [['schedule', 'add', 'nightly', '--every', '5s', '--', 'true'], 4, /^queuectl: a schedule named "nightly" already exists/],
      [['schedule', 'show', 'nope'], 3, /^queuectl: schedule "nope" not found\n$/],
      [['schedule', 'pause', 'nope'], 3, /not found/],
      [['schedule', 'run', 'nope'], 3, /not found/],
      [['schedule', 'remove', 'nope'], 3, /not found/],
    ];
    for (const [args, code, message] of refusals) {
      const r = await cli(...args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code, stdout: '' });
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const listed = JSON.parse((await cli('schedule', 'list', '--json')).stdout);
    expect(listed.map((s: { name: string }) => s.name)).toEqual(['nightly']);

    expect((await cli('schedule', 'pause', 'nightly')).stdout).toBe('paused nightly\n');
    expect((await cli('schedule', 'list')).stdout).toMatch(/\nnightly .* - +- +paused +\.\/backup\.sh/);
    expect((await cli('schedule', 'resume', 'nightly')).stdout).toMatch(/^resumed nightly: next run \d{4}-\d\d-\d\d \d\d:00:00 \(in /);
    const run = await cli('schedule', 'run', 'nightly');
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^nightly:run-/);
    expect(run.stderr).toBe(`queuectl: enqueued ${id}: ./backup.sh --full 'my db'\n`);
    expect((await api(svc, 'GET', `/api/jobs/${id}`)).body).toMatchObject({ max_retries: 2, state: 'pending', queue: 'backups', cwd: '/srv', env: { MODE: 'full' } });
    expect(await cli('schedule', 'remove', 'nightly')).toMatchObject({ code: 0, stdout: 'removed nightly\n' });
    expect((await cli('schedule', 'list')).stdout).toBe('no schedules\n');
    expect((await api(svc, 'GET', `/api/jobs/${id}`)).status).toBe(200);
  });

  it('run --idempotency-key sent twice enqueues once and prints the same id; another command with the key is exit 4', async () => {
    svc = await startService(home);
    const first = await cli('run', '--idempotency-key', 'deploy-42', '--', 'echo', 'deploy');
    const again = await cli('run', '--idempotency-key', 'deploy-42', '--', 'echo', 'deploy');
    expect(first.code).toBe(0);
    expect(again).toMatchObject({ code: 0, stdout: first.stdout });
    const other = await cli('run', '--idempotency-key', 'deploy-42', '--', 'echo', 'other');
    expect(other).toMatchObject({ code: 4, stdout: '' });
    expect(other.stderr).toMatch(/^queuectl: Idempotency-Key "deploy-42" was used for a different request in the last 24 h; use a new key for a new request\n$/);
    const json = await cli('enqueue', '--idempotency-key', 'batch-1', '[{"command":"a"},{"command":"b"}]');
    expect((await cli('enqueue', '--idempotency-key', 'batch-1', '[{"command":"a"},{"command":"b"}]')).stdout).toBe(json.stdout);
    expect((await api(svc, 'GET', '/api/status')).body.counts.pending).toBe(3);
  });
});
