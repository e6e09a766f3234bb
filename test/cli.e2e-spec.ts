import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AddressInfo } from 'node:net';
import { FIRST, ISO_UTC, SEVEN_FIELDS, claimOne, http, jobIn, snapshot } from './support/api-helpers';
import { CLI, CliResult, RunningService, SERVICE_TEST_TOKEN, alive, cleanEnv, killDetachedService, removeHome, runCli, runOnTerminal, startService, tempHome, waitFor } from './support/harness';
import { TEST_DIALECT, databaseEnv } from './support/database';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { SqlDatabase } from '../src/database/sql';

/**
 * The built `queuectl` (dist/cli/main.js) as a user runs it: against a real service over HTTP,
 * with its exit codes, its one-line errors on stderr and nothing but data on stdout.
 */

const DAY = 86_400_000;

function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`queuectl exited ${r.code}: ${r.stderr}`);
  return r;
}

/** A refused command: the exit code, nothing on stdout, one `queuectl: …` line on stderr, no stack. */
function expectFailure(r: CliResult, code: number, message?: RegExp): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: '' });
  expect(r.stderr).toMatch(/^queuectl: [^\n]+\n$/);
  expect(r.stderr).not.toMatch(/^\s+at |Error:|node:internal/m);
  if (message) expect(r.stderr).toMatch(message);
}

function expectSevenFields(job: Record<string, unknown>): void {
  for (const field of SEVEN_FIELDS) expect(job).toHaveProperty(field);
  expect(job.created_at).toMatch(ISO_UTC);
  expect(job.updated_at).toMatch(ISO_UTC);
}

/** queuectl on a pseudo-terminal, typing `input`: what a person sees, prompts included. */
async function inTerminal(args: string[], input: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const { code, screen } = await runOnTerminal(args, env, input);
  return { code, output: screen.toString() };
}

/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('queuectl against a service named by QUEUECTL_URL and QUEUECTL_TOKEN', () => {
  let t: TestApp;
  let clock: ManualClock;
  let url: string;
  let home: string;
  const q = (args: string[], env: Record<string, string | undefined> = {}) =>
    runCli(args, home, { QUEUECTL_URL: url, QUEUECTL_TOKEN: t.token, ...env });
  const showJson = async (id: string) => JSON.parse(ok(await q(['show', id, '--json'])).stdout);

  beforeAll(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    await t.app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    // An empty home: with QUEUECTL_URL set the CLI must neither use nor start a local service.
    home = tempHome();
    // Keep finished jobs however far the tests move the clock: purge is what removes them here.
    expect((await http(t).put('/api/config/retention-seconds').set(t.auth).send({ value: 0 })).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    removeHome(home);
  });

  describe('enqueue', () => {
    it('takes the seven-field form and prints only the id', async () => {
      const r = ok(await q(['enqueue', '{"id":"seven","command":"sleep 2","state":"pending","attempts":0,"max_retries":3,"created_at":"2030-01-01T00:00:00Z","updated_at":"2030-01-01T00:00:00Z"}']));
      expect(r.stdout).toBe('seven\n');
      expect(r.stderr).toBe('');
      const job = await showJson('seven');
      expect(job).toMatchObject({ id: 'seven', command: 'sleep 2', state: 'pending', attempts: 0, max_retries: 3 });
      expectSevenFields(job);
    });

    it('generates an id, stores the command byte for byte and accepts the optional fields', async () => {
      const command = `printf '%s\\n' "héllo wörld ✓" | tr a-z A-Z > "$HOME/out file" && echo 'done'`;
      const r = ok(await q(['enqueue', JSON.stringify({ command, priority: 9, run_at: '2031-05-06T07:08:09Z', timeout_seconds: 30, backoff_base: 3, max_retries: 0 })]));
      const id = r.stdout.trim();
      expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(await showJson(id)).toMatchObject({
        command,
        priority: 9,
        run_at: '2031-05-06T07:08:09.000Z',
        timeout_seconds: 30,
        backoff_base: 3,
        max_retries: 0,
      });
    });

    it('enqueues a JSON array as one batch and prints every id; --json prints the jobs', async () => {
      const r = ok(await q(['enqueue', '[{"id":"batch-1","command":"true"},{"id":"batch-2","command":"false"}]']));
      expect(r.stdout).toBe('batch-1\nbatch-2\n');
      const single = JSON.parse(ok(await q(['enqueue', '{"id":"as-json","command":"true"}', '--json'])).stdout);
      expect(single).toMatchObject({ id: 'as-json', state: 'pending' });
      expectSevenFields(single);
    });

    it('refuses bad input with exit 2 and one line, and changes nothing', async () => {
      const before = await snapshot(t);
      const cases: Array<[string, RegExp]> = [
        ['echo hi', /not valid JSON.*queuectl run -- /],
        ['{"command": "echo hi"', /not valid JSON.*queuectl run -- /],
        ['"echo hi"', /must be a JSON object/],
        ['[]', /empty/],
        ['{"id":"no-command"}', /command must be a string/],
        ['{"command":"   "}', /command must not be blank/],
        ['{"command":""}', /command must not be blank/],
        ['{"id":"has space","command":"true"}', /id must be 1–128 characters/],
        [`{"id":"${'x'.repeat(129)}","command":"true"}`, /id must be 1–128 characters/],
        ['{"command":42}', /command must be a string/],
        ['{"command":"true","max_retries":"3"}', /max_retries must be a whole number/],
        ['{"command":"true","priority":true}', /priority must be a whole number/],
        ['{"command":"true","colour":"red"}', /unknown field "colour"/],
        ['{"command":"true","max_retries":-1}', /max_retries must be 0 or more/],
        ['{"command":"true","max_retries":1.5}', /max_retries must be a whole number/],
        ['{"command":"true","run_at":"next tuesday"}', /run_at must be an ISO-8601 time/],
        ['{"command":"true","run_at":"2030-02-30T00:00:00Z"}', /run_at/],
        ['[{"command":"true","id":"batch-ok"},{"command":""}]', /blank/],
      ];
      for (const [json, message] of cases) {
        const r = await q(['enqueue', json]);
        try {
          expectFailure(r, 2, message);
        } catch (e) {
          throw new Error(`enqueue ${json}: ${(e as Error).message}`);
        }
      }
      expect(await snapshot(t)).toEqual(before);
    });

    it('refuses a duplicate id with exit 4 and keeps the original', async () => {
      ok(await q(['enqueue', '{"id":"dup","command":"echo original","max_retries":1}']));
      const before = await snapshot(t);
      expectFailure(await q(['enqueue', '{"id":"dup","command":"echo impostor","max_retries":7}']), 4, /"dup" already exists/);
      expectFailure(await q(['run', '--id', 'dup', '--', 'echo', 'impostor']), 4, /already exists/);
      expect(await snapshot(t)).toEqual(before);
      expect(await showJson('dup')).toMatchObject({ command: 'echo original', max_retries: 1 });
    });
  });

  describe('run', () => {
    it('builds the job from its options and the words after --', async () => {
      const before = Date.now();
      ok(await q(['run', '--id', 'r1', '--retries', '2', '--priority', '-7', '--delay', '5m', '--timeout', '2m', '--', 'ls', '-la', '/tmp']));
      const job = await showJson('r1');
      expect(job).toMatchObject({ command: 'ls -la /tmp', max_retries: 2, priority: -7, timeout_seconds: 120 });
      const due = Date.parse(job.run_at);
      expect(due).toBeGreaterThanOrEqual(before + 300_000 - 1000);
      expect(due).toBeLessThanOrEqual(Date.now() + 300_000 + 1000);

      ok(await q(['run', '--id', 'r2', '--at', '2031-01-01T10:00:00+02:00', '--', 'echo "a | b" && echo $HOME']));
      expect(await showJson('r2')).toMatchObject({ command: 'echo "a | b" && echo $HOME', run_at: '2031-01-01T08:00:00.000Z' });

      const r = ok(await q(['run', 'echo', 'no', 'dashes']));
      expect((await showJson(r.stdout.trim())).command).toBe('echo no dashes');
    });

    it('refuses bad options with exit 2 and sends nothing', async () => {
      const before = await snapshot(t);
      expectFailure(await q(['run', 'ls', '-la']), 2, /unknown option '-la'.*queuectl run \[options\] -- /);
      expectFailure(await q(['run', '--retries', '-1', '--', 'true']), 2, /--retries/);
      expectFailure(await q(['run', '--retries', '1.5', '--', 'true']), 2, /whole number/);
      expectFailure(await q(['run', '--priority', 'high', '--', 'true']), 2, /--priority/);
      expectFailure(await q(['run', '--delay', 'soon', '--', 'true']), 2, /duration/);
      expectFailure(await q(['run', '--at', 'someday', '--', 'true']), 2, /--at/);
      expectFailure(await q(['run', '--at', '2031-01-01T00:00:00Z', '--delay', '5m', '--', 'true']), 2, /--at or --delay, not both/);
      expectFailure(await q(['run', '--id', 'bad id!', '--', 'true']), 2, /id must be/);
      expectFailure(await q(['run']), 2, /missing required argument/);
      expectFailure(await q(['run', '--', '  ']), 2, /blank/);
      expect(await snapshot(t)).toEqual(before);
    });
  });

  describe('list', () => {
    it('--json prints exactly one JSON array of jobs with the seven fields', async () => {
      const r = ok(await q(['list', '--json']));
      const jobs = JSON.parse(r.stdout);
      expect(Array.isArray(jobs)).toBe(true);
      expect(jobs.length).toBeGreaterThan(5);
      for (const job of jobs) expectSevenFields(job);
      expect(r.stderr).toBe('');
    });

    it('filters by state and search, and prints a table for people', async () => {
      ok(await q(['enqueue', '{"id":"findme-1","command":"echo needle"}']));
      await jobIn(t, clock, 'completed', { id: 'findme-2', command: 'echo needle' });
      const pending = JSON.parse(ok(await q(['list', '--state', 'pending', '--search', 'needle', '--json'])).stdout);
      expect(pending.map((j: { id: string }) => j.id)).toEqual(['findme-1']);
      const all = JSON.parse(ok(await q(['list', '--search', 'needle', '--json'])).stdout);
      expect(all.map((j: { id: string }) => j.id).sort()).toEqual(['findme-1', 'findme-2']);

      const table = ok(await q(['list', '--search', 'needle'])).stdout.trimEnd().split('\n');
      expect(table[0]).toMatch(/^ID\s+QUEUE\s+STATE\s+ATTEMPTS\s+PRIORITY\s+UPDATED\s+COMMAND$/);
      expect(table).toHaveLength(3);
      expect(table.find((l) => l.startsWith('findme-2'))).toMatch(/completed\s+1\/4/);

      expect(ok(await q(['list', '--search', 'no-such-thing-anywhere'])).stdout).toBe('no jobs\n');
      expect(JSON.parse(ok(await q(['list', '--search', 'no-such-thing-anywhere', '--json'])).stdout)).toEqual([]);
      expectFailure(await q(['list', '--state', 'sleeping']), 2, /state must be one of/);
      expectFailure(await q(['list', '--limit', '0']), 2, /--limit/);
    });

    it('without --limit follows next_cursor to the last job; --limit stops there', async () => {
      const jobs = Array.from({ length: 1205 }, (_, i) => ({ id: `page-${String(i).padStart(4, '0')}`, command: `echo page-${i}` }));
      const enq = ok(await q(['enqueue', JSON.stringify(jobs)]));
      expect(enq.stdout.trim().split('\n')).toHaveLength(1205);

      const listed = JSON.parse(ok(await q(['list', '--search', 'page-', '--json'])).stdout) as Array<{ id: string }>;
      expect(listed).toHaveLength(1205);
      expect(new Set(listed.map((j) => j.id)).size).toBe(1205);
      expect(listed[0].id).toBe('page-1204'); // newest first

      expect(JSON.parse(ok(await q(['list', '--search', 'page-', '--limit', '1100', '--json'])).stdout)).toHaveLength(1100);
      expect(JSON.parse(ok(await q(['list', '--search', 'page-', '--limit', '3', '--json'])).stdout)).toHaveLength(3);
      expect(ok(await q(['list', '--search', 'page-'])).stdout.trimEnd().split('\n')).toHaveLength(1206);
    });
  });

  describe('show', () => {
    it('prints a job with every run, as JSON and for people', async () => {
      // Two real runs: a failed attempt with a retry due, then the retry, which is buried.
      await jobIn(t, clock, 'failed', { id: 'two-runs', command: 'exit 3', max_retries: 1 });
      clock.advance(366 * DAY);
      const { lease } = await claimOne(t, clock, 'two-runs');
      const repo = t.app.get(JobsRepository);
      await t.app.get(SqlDatabase).write(async (sql) => {
        await repo.bury(sql, 'two-runs', lease, clock.now(), { exitCode: 3, error: 'exit code 3' });
        await repo.finishAttempt(sql, 'two-runs', lease, clock.now(), { exitCode: 3, error: 'exit code 3' });
      });

      const job = await showJson('two-runs');
      expect(job).toMatchObject({ state: 'dead', attempts: 2, exit_code: 3, last_error: 'exit code 3' });
      expect(job.runs).toHaveLength(2);
      expect(job.runs.map((r: { attempt: number; exit_code: number }) => [r.attempt, r.exit_code])).toEqual([
        [1, 3],
        [2, 3],
      ]);

      const text = ok(await q(['show', 'two-runs'])).stdout;
      expect(text).toMatch(/^id\s+two-runs$/m);
      expect(text).toMatch(/^state\s+dead$/m);
      expect(text).toMatch(/^attempts\s+2\/2 \(max_retries 1\)$/m);
      expect(text).toMatch(/^ATTEMPT\s+WORKER\s+STARTED\s+DURATION\s+EXIT/m);
      expect(text.match(/^[12]\s+test-worker\s+.*\s3\s+\d+\s+exit code 3$/gm)).toHaveLength(2);
    });

    it('exits 3 for an unknown id and 2 for a malformed one', async () => {
      expectFailure(await q(['show', 'no-such-job']), 3, /job "no-such-job" not found/);
      expectFailure(await q(['show', 'bad id']), 2, /not a job id/);
      expectFailure(await q(['show', '..']), 2, /not a job id/);
      expectFailure(await q(['show']), 2, /missing required argument 'id'/);
    });
  });

  // Before any job is left processing: moving the clock on would expire its lease.
  it('purge deletes finished jobs, only the old ones with --older-than', async () => {
    await jobIn(t, clock, 'completed', { id: 'purge-done', command: 'true' });
    await jobIn(t, clock, 'dead', { id: 'purge-dead', command: 'false' });
    expectFailure(await q(['purge']), 2, /--completed, --dead or both/);
    expectFailure(await q(['purge', '--dead', '--older-than', 'ages']), 2, /duration/);

    // Jobs finished before the clock moved on in earlier tests go; the ones just finished stay.
    expect(ok(await q(['purge', '--completed', '--dead', '--older-than', '7d'])).stdout).toMatch(/^purged \d+ jobs?\n$/);
    expect((await showJson('purge-done')).state).toBe('completed');
    expect((await showJson('purge-dead')).state).toBe('dead');

    clock.advance(8 * DAY);
    const r = JSON.parse(ok(await q(['purge', '--dead', '--older-than', '7d', '--json'])).stdout);
    expect(r.purged).toBeGreaterThanOrEqual(2); // purge-dead and two-runs at least
    expect((await showJson('purge-done')).state).toBe('completed');
    expectFailure(await q(['show', 'purge-dead']), 3);
    expect(JSON.parse(ok(await q(['dlq', 'list', '--json'])).stdout)).toEqual([]);

    expect(ok(await q(['purge', '--completed'])).stdout).toMatch(/^purged [1-9]\d* jobs?\n$/);
    expectFailure(await q(['show', 'purge-done']), 3);
    expect(JSON.parse(ok(await q(['list', '--state', 'completed', '--json'])).stdout)).toEqual([]);
  });

  it('status counts all five states and the active workers, like the API', async () => {
    await jobIn(t, clock, 'processing', { id: 'status-processing', command: 'sleep 9' });
    const shown = JSON.parse(ok(await q(['status', '--json'])).stdout);
    const api = await http(t).get('/api/status').set(t.auth);
    expect(shown).toEqual(api.body);
    expect(Object.keys(shown.counts).sort()).toEqual(['completed', 'dead', 'failed', 'pending', 'processing']);
    expect(shown.counts.processing).toBeGreaterThanOrEqual(1);
    expect(typeof shown.workers.active).toBe('number');

    const text = ok(await q(['status'])).stdout;
    for (const state of ['pending', 'processing', 'completed', 'failed', 'dead']) {
      expect(text).toMatch(new RegExp(`^${state}\\s+${shown.counts[state]}$`, 'm'));
    }
    expect(text).toMatch(new RegExp(`^total\\s+${shown.total}$`, 'm'));
    expect(text).toMatch(/^workers\s+\d+ active$/m);
  });

  describe('cancel', () => {
    it('sends a waiting job to the DLQ and asks a running one to stop', async () => {
      ok(await q(['run', '--id', 'to-cancel', '--', 'sleep 60']));
      expect(ok(await q(['cancel', 'to-cancel'])).stdout).toBe('cancelled to-cancel\n');
      expect(await showJson('to-cancel')).toMatchObject({ state: 'dead', last_error: 'cancelled' });

      await jobIn(t, clock, 'processing', { id: 'running-cancel', command: 'sleep 60' });
      const r = JSON.parse(ok(await q(['cancel', 'running-cancel', '--json'])).stdout);
      expect(r).toMatchObject({ id: 'running-cancel', state: 'processing', cancel_requested: true });
    });

    it('exits 4 for a job that already finished and 3 for an unknown one, changing nothing', async () => {
      await jobIn(t, clock, 'completed', { id: 'done-cancel', command: 'true' });
      const before = await snapshot(t);
      expectFailure(await q(['cancel', 'done-cancel']), 4, /"done-cancel" is completed; cannot cancel/);
      expectFailure(await q(['cancel', 'to-cancel']), 4, /is dead; cannot cancel/);
      expectFailure(await q(['cancel', 'nobody']), 3, /not found/);
      expect(await snapshot(t)).toEqual(before);
    });
  });

  describe('dlq', () => {
    it('lists dead jobs and retries one or all of them', async () => {
      await jobIn(t, clock, 'dead', { id: 'dead-1', command: 'false' });
      await jobIn(t, clock, 'dead', { id: 'dead-2', command: 'false' });
      const dead = JSON.parse(ok(await q(['dlq', 'list', '--json'])).stdout) as Array<{ id: string; state: string }>;
      expect(dead.map((j) => j.id)).toEqual(expect.arrayContaining(['dead-1', 'dead-2', 'to-cancel']));
      expect(dead.every((j) => j.state === 'dead')).toBe(true);
      expect(ok(await q(['dlq', 'list'])).stdout).toMatch(/^dead-1\s+dead\s+1\/4/m);

      expect(ok(await q(['dlq', 'retry', 'dead-1'])).stdout).toBe('retried dead-1: pending again\n');
      expect(await showJson('dead-1')).toMatchObject({ state: 'pending', attempts: 0, last_error: null });

      const remaining = dead.length - 1;
      const all = JSON.parse(ok(await q(['dlq', 'retry', '--all', '--json'])).stdout);
      expect(all).toEqual({ retried: remaining });
      expect(JSON.parse(ok(await q(['dlq', 'list', '--json'])).stdout)).toEqual([]);
      expect(ok(await q(['dlq', 'retry', '--all'])).stdout).toBe('retried 0 jobs\n');
    });

    it('refuses a job that is not dead (4), an unknown one (3) and a missing choice (2)', async () => {
      const before = await snapshot(t);
      expectFailure(await q(['dlq', 'retry', 'dead-1']), 4, /"dead-1" is pending/);
      expectFailure(await q(['dlq', 'retry', 'nobody']), 3, /not found/);
      expectFailure(await q(['dlq', 'retry']), 2, /give the id of the job to retry, or --all/);
      expectFailure(await q(['dlq', 'retry', 'dead-1', '--all']), 2, /not both/);
      expect(await snapshot(t)).toEqual(before);
    });
  });

  describe('config', () => {
    it('lists, gets and sets settings', async () => {
      const list = JSON.parse(ok(await q(['config', 'list', '--json'])).stdout) as Array<{ key: string }>;
      expect(list.map((s) => s.key)).toEqual(expect.arrayContaining(['max-retries', 'backoff-base', 'backoff-max', 'job-timeout', 'lease-timeout', 'heartbeat-interval']));
      expect(ok(await q(['config', 'show'])).stdout).toMatch(/^KEY\s+VALUE\s+DEFAULT\s+MEANING\n(.|\n)*^max-retries\s+3\s+3\s+/m);

      expect(ok(await q(['config', 'set', 'max-retries', '5'])).stdout).toBe('max-retries = 5\n');
      expect(ok(await q(['config', 'get', 'max-retries'])).stdout).toBe('5\n');
      expect(JSON.parse(ok(await q(['config', 'get', 'max_retries', '--json'])).stdout)).toEqual({ key: 'max-retries', value: 5 });
      expect(ok(await q(['config', 'get'])).stdout).toMatch(/^max-retries\s+5$/m);
      expect(ok(await q(['config', 'set', 'backoff_base', '1.5'])).stdout).toBe('backoff-base = 1.5\n');

      // A new job takes the new default.
      ok(await q(['enqueue', '{"id":"after-config","command":"true"}']));
      expect((await showJson('after-config')).max_retries).toBe(5);
    });

    it('refuses a bad value or key with exit 2 and keeps the old value', async () => {
      const before = await snapshot(t);
      expectFailure(await q(['config', 'set', 'max-retries', 'lots']), 2, /max-retries must be an integer/);
      expectFailure(await q(['config', 'set', 'max-retries', '-1']), 2, /max-retries must be an integer from 0/);
      expectFailure(await q(['config', 'set', 'max-retries', '2.5']), 2, /integer/);
      expectFailure(await q(['config', 'set', 'heartbeat-interval', '100']), 2, /lease-timeout/);
      expectFailure(await q(['config', 'set', 'colour', 'blue']), 2, /unknown config key "colour"/);
      expectFailure(await q(['config', 'get', 'colour']), 2, /unknown config key/);
      expectFailure(await q(['config', 'set', 'max-retries']), 2, /missing required argument 'value'/);
      expect(await snapshot(t)).toEqual(before);
      expect(ok(await q(['config', 'get', 'max-retries'])).stdout).toBe('5\n');
    });
  });

  describe('tokens and reachability', () => {
    it('exits 6 with no token or a wrong one, and works with --url and --token', async () => {
      const before = await snapshot(t);
      expectFailure(await q(['status'], { QUEUECTL_TOKEN: undefined }), 6, /no token.*QUEUECTL_TOKEN/);
      expectFailure(await q(['status'], { QUEUECTL_TOKEN: 'wrong-token-0123456789' }), 6, /not authorised: invalid token/);
      expectFailure(await q(['enqueue', '{"command":"true"}'], { QUEUECTL_TOKEN: 'wrong-token-0123456789' }), 6);
      expectFailure(await q(['--token', 'wrong-token-0123456789', 'list', '--json']), 6);
      expect(await snapshot(t)).toEqual(before);

      const r = ok(await runCli(['--url', url, '--token', t.token, 'status', '--json'], home));
      expect(JSON.parse(r.stdout).counts).toBeDefined();
      ok(await runCli(['status', '--url', url, '--token', t.token], home));
    });

    it('exits 5 when the service does not answer, and 2 for a URL that is not one', async () => {
      const port = await closedPort();
      for (const args of [['status'], ['list', '--json'], ['enqueue', '{"command":"true"}'], ['show', 'x']]) {
        expectFailure(await q(args, { QUEUECTL_URL: `http://127.0.0.1:${port}` }), 5, /cannot reach the service at http:\/\/127\.0\.0\.1:\d+/);
      }
      expectFailure(await q(['status'], { QUEUECTL_URL: 'localhost:7411' }), 2, /must start with http/);
      expect(existsSync(join(home, 'service.json'))).toBe(false);
    });
  });

  describe('usage', () => {
    it('lists the commands and the exit codes in --help', async () => {
      const r = ok(await q(['--help']));
      for (const command of ['enqueue', 'run', 'list', 'show', 'status', 'dlq', 'cancel', 'purge', 'config', 'reset', 'serve', 'server']) {
        expect(r.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
      }
      for (const line of ['0  ok', '1  failure', '2  usage', '3  not found', '4  conflict', '5  service unreachable', '6  not authorised']) {
        expect(r.stdout).toContain(line);
      }
      for (const sub of [['dlq', 'retry'], ['config', 'set'], ['server', 'stop'], ['run']]) {
        expect(ok(await q([...sub, '--help'])).stdout).toMatch(/^Usage: queuectl /);
      }
      expect(ok(await q(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    });

    it('exits 2 for an unknown command or option and for missing arguments', async () => {
      expectFailure(await q(['lsit']), 2, /unknown command 'lsit'.*list/);
      expectFailure(await q(['list', '--colour']), 2, /unknown option '--colour'/);
      expectFailure(await q(['cancel']), 2, /missing required argument/);
      expectFailure(await q(['show', 'a', 'b']), 2, /too many arguments/);
      const bare = await q([]);
      expect(bare.code).toBe(2);
      expect(bare.stdout).toBe('');
      expect(bare.stderr).toMatch(/^Usage: queuectl/);
    });
  });

  if (TEST_DIALECT === 'postgres') {
    it('reset on PostgreSQL says in one line why it refuses, and changes nothing', async () => {
      ok(await q(['enqueue', '{"command":"echo one"}']));
      const before = await snapshot(t);
      const r = await q(['reset', '--yes']);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^queuectl: reset is for the embedded SQLite queue; on PostgreSQL back up the database with pg_dump.*\n$/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(await snapshot(t)).toEqual(before);
    });
  }

  // SQLite's reset; on PostgreSQL it refuses (above).
  if (TEST_DIALECT === 'sqlite')
  it('reset asks on a terminal, refuses without --yes off one, then backs up and empties the queue', async () => {
    ok(await q(['enqueue', '[{"command":"echo one"},{"command":"echo two"}]']));
    ok(await q(['config', 'set', 'backoff-max', '1234']));
    const before = await snapshot(t);
    expectFailure(await q(['reset']), 2, /pass --yes/);
    const no = await inTerminal(['reset'], 'n\n', { QUEUECTL_HOME: home, QUEUECTL_URL: url, QUEUECTL_TOKEN: t.token });
    expect(no.code).toBe(1);
    expect(no.output).toMatch(/Delete all \d+ jobs\? The database is backed up first\. \[y\/N\]/);
    expect(no.output).toMatch(/queuectl: reset cancelled; nothing was changed/);
    expect(await snapshot(t)).toEqual(before);

    // Jobs still run (earlier tests left them processing): reset is refused, nothing changes.
    const running = await t.app.get(SqlDatabase).rows<{ id: string; lease: number }>(`SELECT id, lease FROM jobs WHERE state = 'processing'`);
    expect(running.length).toBeGreaterThan(0);
    expectFailure(await q(['reset', '--yes']), 4, /cannot reset while jobs run/);
    expect(await snapshot(t)).toEqual(before);
    await t.app.get(SqlDatabase).write((sql) => t.app.get(JobsRepository).completeRuns(sql, running, clock.now()));

    const total = (await http(t).get('/api/status').set(t.auth)).body.total;
    expect(total).toBeGreaterThan(0);
    const yes = await inTerminal(['reset'], 'y\n', { QUEUECTL_HOME: home, QUEUECTL_URL: url, QUEUECTL_TOKEN: t.token });
    expect(yes.code).toBe(0);
    const backup = /deleted (\d+) jobs?; backup: (\S+)/.exec(yes.output);
    expect(Number(backup?.[1])).toBe(total);
    expect(existsSync(backup![2])).toBe(true);
    expect(JSON.parse(ok(await q(['list', '--json'])).stdout)).toEqual([]);

    clock.advance(1000); // the backup is named by the service's clock
    ok(await q(['enqueue', '{"command":"true"}']));
    const r = JSON.parse(ok(await q(['reset', '--yes', '--json'])).stdout);
    expect(r.deleted).toBe(1);
    expect(existsSync(r.backup)).toBe(true);
    expect(JSON.parse(ok(await q(['list', '--json'])).stdout)).toEqual([]);
    // Settings stay.
    expect(ok(await q(['config', 'get', 'backoff-max'])).stdout).toBe('1234\n');
  });

  it('loads no server code (NestJS, TypeORM) for a command', async () => {
    const dir = tempHome('queuectl-preload-');
    try {
      const seen = join(dir, 'modules.json');
      const preload = join(dir, 'preload.js');
      writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify(Object.keys(require.cache))));`);
      const child = spawn(process.execPath, ['-r', preload, CLI, 'status', '--json'], {
        env: cleanEnv({ QUEUECTL_HOME: home, QUEUECTL_URL: url, QUEUECTL_TOKEN: t.token }),
        stdio: 'ignore',
      });
      const code = await new Promise((r) => child.on('exit', r));
      expect(code).toBe(0);
      const modules = JSON.parse(readFileSync(seen, 'utf8')) as string[];
      expect(modules.some((m) => m.includes('commander'))).toBe(true);
      expect(modules.filter((m) => /@nestjs|typeorm|sqlite3|class-validator/.test(m))).toEqual([]);
    } finally {
      removeHome(dir);
    }
  });
});

it('a request body over the service\'s limit exits 2 and stores nothing', async () => {
  const t = await createTestApp({ env: { QUEUECTL_BODY_LIMIT: '2048' } });
  const home = tempHome();
  try {
    await t.app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const env = { QUEUECTL_URL: url, QUEUECTL_TOKEN: t.token };
    expectFailure(await runCli(['run', '--', `echo ${'x'.repeat(3000)}`], home, env), 2, /larger than the limit of 2048 bytes/);
    expect(JSON.parse(ok(await runCli(['list', '--json'], home, env)).stdout)).toEqual([]);
  } finally {
    await t.close();
    removeHome(home);
  }
});

describe('queuectl and the local service of QUEUECTL_HOME', () => {
  const homes: string[] = [];
  const services: RunningService[] = [];
  const children: ChildProcess[] = [];
  const newHome = () => {
    const home = tempHome();
    homes.push(home);
    return home;
  };

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const svc of services) await svc.kill();
    for (const home of homes) {
      killDetachedService(home);
      removeHome(home);
    }
  });

  it('starts no service when QUEUECTL_DATABASE_URL names PostgreSQL, and says what to set instead', async () => {
    const home = newHome();
    const r = await runCli(['list'], home, { QUEUECTL_DATABASE_URL: 'postgres://queue@127.0.0.1:1/jobs', QUEUECTL_TOKEN: SERVICE_TEST_TOKEN });
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(
      'queuectl: QUEUECTL_DATABASE_URL names PostgreSQL, whose services are not started by the CLI: set QUEUECTL_URL and QUEUECTL_TOKEN\n',
    );
    expect(existsSync(join(home, 'service.json'))).toBe(false);
  });

  it('starts the service on first use, says so once on stderr, and keeps two homes apart', async () => {
    const a = newHome();
    const b = newHome();
    const first = await runCli(['enqueue', '{"id":"same-id","command":"echo hi"}'], a);
    expect(first).toMatchObject({ code: 0, stdout: 'same-id\n' });
    expect(first.stderr).toMatch(/^queuectl: no service was running for .+; started one in the background \(log: .+service\.log\)\n$/);
    const record = JSON.parse(readFileSync(join(a, 'service.json'), 'utf8'));
    expect(alive(record.pid)).toBe(true);

    // The second command finds the running service: no note, same process.
    const again = ok(await runCli(['enqueue', '{"command":"echo hi"}'], a));
    expect(again.stderr).toBe('');
    expect(JSON.parse(readFileSync(join(a, 'service.json'), 'utf8')).pid).toBe(record.pid);

    // Another home is another queue: the same id is free there, and lists do not mix.
    const other = await runCli(['enqueue', '{"id":"same-id","command":"echo other"}'], b);
    expect(other).toMatchObject({ code: 0, stdout: 'same-id\n' });
    expect(JSON.parse(readFileSync(join(b, 'service.json'), 'utf8')).pid).not.toBe(record.pid);
    const listA = JSON.parse(ok(await runCli(['list', '--json'], a)).stdout) as Array<{ id: string; command: string }>;
    const listB = JSON.parse(ok(await runCli(['list', '--json'], b)).stdout) as Array<{ id: string; command: string }>;
    expect(listA).toHaveLength(2);
    expect(listA.find((j) => j.id === 'same-id')?.command).toBe('echo hi');
    expect(listB.map((j) => [j.id, j.command])).toEqual([['same-id', 'echo other']]);
  });

  it('server status and stop never start a service; stop without one is a no-op', async () => {
    const home = newHome();
    const status = await runCli(['server', 'status'], home);
    expect(status).toMatchObject({ code: 5, stdout: `not running (home ${home})\n`, stderr: '' });
    expect(JSON.parse((await runCli(['server', 'status', '--json'], home)).stdout)).toEqual({ running: false, home });
    expect(await runCli(['server', 'stop'], home)).toMatchObject({ code: 0, stdout: 'no service was running\n', stderr: '' });
    expect(existsSync(join(home, 'service.json'))).toBe(false);

    const port = await closedPort();
    expect(await runCli(['server', 'stop'], home, { QUEUECTL_URL: `http://127.0.0.1:${port}` })).toMatchObject({ code: 0, stdout: 'no service was running\n' });
    expect((await runCli(['server', 'status'], home, { QUEUECTL_URL: `http://127.0.0.1:${port}` })).code).toBe(5);
  });

  it('server status shows a running service and server stop waits until it has exited', async () => {
    const home = newHome();
    const svc = await startService(home);
    services.push(svc);
    const text = ok(await runCli(['server', 'status'], home)).stdout;
    expect(text).toMatch(new RegExp(`^url\\s+${svc.url.replace(/[.]/g, '\\.')}$`, 'm'));
    expect(text).toMatch(new RegExp(`^pid\\s+${svc.pid}$`, 'm'));
    expect(text).toMatch(/^uptime\s+\d+/m);
    const json = JSON.parse(ok(await runCli(['server', 'status', '--json'], home)).stdout);
    expect(json).toMatchObject({ running: true, url: svc.url, pid: svc.pid, home });
    expect(typeof json.uptime_seconds).toBe('number');

    // A remote service is asked over HTTP; health needs no token.
    expect(JSON.parse(ok(await runCli(['server', 'status', '--json'], newHome(), { QUEUECTL_URL: svc.url })).stdout)).toMatchObject({ running: true, pid: svc.pid });

    const stop = ok(await runCli(['server', 'stop'], home));
    expect(stop.stdout).toBe(`stopped the service (pid ${svc.pid})\n`);
    // Stop returns only once the process is gone.
    expect(alive(svc.pid)).toBe(false);
    await waitFor(() => svc.process.exitCode !== null || svc.process.signalCode !== null, 5000, 'the service process to be reaped');
    expect(svc.process.exitCode).toBe(0);
    expect(existsSync(join(home, 'service.json'))).toBe(false);
    expect((await runCli(['server', 'status'], home)).code).toBe(5);
  });

  it('serve runs the service in the foreground until server stop', async () => {
    const home = newHome();
    expectFailure(await runCli(['serve', '--port', 'http'], home), 2, /--port/);

    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], {
      env: cleanEnv({ QUEUECTL_HOME: home, ...databaseEnv(home, SERVICE_TEST_TOKEN) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${output}`);
        // The record may be on disk before the line has come through the pipe: both are awaited.
        return JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')).pid === child.pid && /listening on/.test(output);
      },
      20_000,
      'serve to listen',
    );
    expect(output).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);

    const r = ok(await runCli(['enqueue', '{"id":"served","command":"true"}'], home));
    expect(r.stderr).toBe(''); // found the foreground service: nothing was started
    expect(ok(await runCli(['server', 'stop'], home)).stdout).toBe(`stopped the service (pid ${child.pid})\n`);
    expect(await exited).toBe(0);
  });
});

describe('queuectl with its token in QUEUECTL_TOKEN_FILE (a Compose secret)', () => {
  const token = 'compose-secret-token-0123456789abcdefghij';
  let t: TestApp;
  let url: string;
  let home: string;

  beforeAll(async () => {
    t = await createTestApp({ token });
    await t.app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    home = tempHome();
  });
  afterAll(async () => {
    await t?.close();
    removeHome(home);
  });

  it('reads the token from the file, and refuses a file others may read, with one line', async () => {
    const file = join(home, 'queuectl_token');
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    const status = await runCli(['status', '--json'], home, { QUEUECTL_URL: url, QUEUECTL_TOKEN: undefined, QUEUECTL_TOKEN_FILE: file });
    expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(status.stdout).counts).toBeDefined();

    chmodSync(file, 0o644);
    const refused = await runCli(['status'], home, { QUEUECTL_URL: url, QUEUECTL_TOKEN: undefined, QUEUECTL_TOKEN_FILE: file });
    expect(refused.code).toBe(6);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/queuectl_token/);
    expect(refused.stderr).not.toContain(token);
  });
});
