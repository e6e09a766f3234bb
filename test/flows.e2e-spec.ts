import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium, watchPage } from './support/browser';
import { CliResult, api, markerLines, runCli, waitFor } from './support/harness';
import { job, startWorker, useQueue, waitForState, waitForWorkers } from './support/workers';

/**
 * Job flows with real workers and the built CLI: where and how a command runs (cwd, env), and
 * dependencies (after): order, death down the chain, refusals, and retries from the DLQ.
 */

function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`queuectl exited ${r.code}: ${r.stderr}`);
  return r;
}

/** A refused command: its exit code, nothing on stdout, one `queuectl: …` line on stderr. */
function expectRefused(r: CliResult, code: number, message: RegExp): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: '' });
  expect(r.stderr).toMatch(/^queuectl: [^\n]+\n$/);
  expect(r.stderr).toMatch(message);
}

describe('where and how a command runs', () => {
  const q = useQueue('queuectl-flows-');
  const cli = (args: string[], cwd?: string) => runCli(args, q.home, {}, undefined, cwd);

  it('run records the caller’s directory and the --env variables; the command runs there with them', async () => {
    const dir = join(q.home, 'work dir');
    mkdirSync(dir);
    const id = ok(await cli(['run', '--env', 'GREETING=hello there', '--env', 'EMPTY=', 'pwd; echo "[$GREETING][${EMPTY-unset}]"'], dir)).stdout.trim();
    const stored = JSON.parse(ok(await cli(['show', id, '--json'])).stdout);
    expect(stored).toMatchObject({ cwd: dir, env: { GREETING: 'hello there', EMPTY: '' }, after: [], waiting_on: [] });
    startWorker(q.home);
    await waitForState(q.svc, id, 'completed');
    expect(ok(await cli(['logs', id])).stdout).toBe(`${realpathSync(dir)}\n[hello there][]\n`);
    // People see the names; the values stay in --json.
    const shown = ok(await cli(['show', id])).stdout;
    expect(shown).toMatch(/^cwd\s+.*work dir$/m);
    expect(shown).toMatch(/^env\s+GREETING, EMPTY \(values: show --json\)$/m);
    expect(shown).not.toContain('hello there');
  });

  it('--cwd names the directory (relative to the caller’s), --no-cwd leaves the worker’s; a JSON "cwd" wins over the caller’s', async () => {
    mkdirSync(join(q.home, 'sub'));
    const given = ok(await cli(['run', '--cwd', 'sub', '--', 'pwd'], q.home)).stdout.trim();
    const none = ok(await cli(['run', '--no-cwd', '--', 'pwd'], q.home)).stdout.trim();
    const json = ok(await cli(['enqueue', JSON.stringify({ command: 'pwd', cwd: '/' })], q.home)).stdout.trim();
    const plain = ok(await cli(['enqueue', JSON.stringify({ command: 'pwd', env: { A: '1' } }), '--env', 'A=0', '--env', 'B=2'], q.home)).stdout.trim();
    expect((await job(q.svc, given)).cwd).toBe(join(q.home, 'sub'));
    expect((await job(q.svc, none)).cwd).toBeNull();
    expect((await job(q.svc, json)).cwd).toBe('/');
    expect(await job(q.svc, plain)).toMatchObject({ cwd: q.home, env: { A: '1', B: '2' } });
    startWorker(q.home);
    for (const id of [given, json]) await waitForState(q.svc, id, 'completed');
    expect(ok(await cli(['logs', given])).stdout).toBe(`${realpathSync(join(q.home, 'sub'))}\n`);
    expect(ok(await cli(['logs', json])).stdout).toBe('/\n');
  });

  it('a directory missing on the worker’s machine fails the attempt with that reason, under the retry rules', async () => {
    const id = ok(await cli(['run', '--cwd', '/nonexistent/queuectl-x', '--retries', '1', '--', 'true'])).stdout.trim();
    await api(q.svc, 'PUT', '/api/config/backoff-base', { value: 1 });
    startWorker(q.home);
    const dead = await waitForState(q.svc, id, 'dead', 20_000);
    expect(dead.last_error).toBe('cwd does not exist: /nonexistent/queuectl-x');
    expect(dead.runs.map((r: { error: string }) => r.error)).toEqual(['cwd does not exist: /nonexistent/queuectl-x', 'cwd does not exist: /nonexistent/queuectl-x']);
  });

  it('bad cwd and env are refused with one line, and nothing is stored', async () => {
    expectRefused(await cli(['run', '--env', 'NOEQUALS', '--', 'true']), 2, /NAME=VALUE/);
    expectRefused(await cli(['run', '--env', '1BAD=x', '--', 'true']), 2, /env name "1BAD" is not a variable name/);
    expectRefused(await cli(['run', '--env', 'QUEUECTL_JOB_ID=x', '--', 'true']), 2, /reserved/);
    expectRefused(await cli(['enqueue', '{"command":"true","env":{"A":1}}']), 2, /env\.A must be a string/);
    expectRefused(await cli(['enqueue', '{"command":"true","env":["A=1"]}']), 2, /env must be an object/);
    expectRefused(await cli(['enqueue', '{"command":"true","cwd":"relative/dir"}']), 2, /cwd must be an absolute path/);
    expectRefused(await cli(['enqueue', JSON.stringify({ command: 'true', env: { BIG: 'x'.repeat(20_000) } })]), 2, /env\.BIG must be at most 16384 characters/);
    expect(JSON.parse(ok(await cli(['list', '--json'])).stdout)).toEqual([]);
    // The OpenAPI description has the three fields.
    const { properties } = (await api(q.svc, 'GET', '/api/docs-json')).body.components.schemas.EnqueueJobDto;
    expect([properties.cwd.type, properties.env.type, properties.env.additionalProperties, properties.after.type]).toEqual(['string', 'object', { type: 'string' }, 'array']);
  });
});

describe('dependencies', () => {
  const q = useQueue('queuectl-after-');
  const cli = (args: string[]) => runCli(args, q.home);
  const enqueueBatch = async (jobs: object[]) => JSON.parse(ok(await cli(['enqueue', JSON.stringify(jobs), '--json'])).stdout) as Array<Record<string, any>>;
  /**
   * A command that writes when it starts and ends; between, it runs `then`, and with a `gate` it
   * waits (30 s at most) for that file, so the test looks at the queue while it runs.
   */
  const step = (name: string, then = 'sleep 0.2', gate?: string) =>
    `echo ${name}-start >> '${q.marker}'; ${gate ? `for i in $(seq 300); do [ -f '${gate}' ] && break; sleep 0.1; done; ` : ''}${then}; echo ${name}-end >> '${q.marker}'`;
  const open = (gate: string) => writeFileSync(gate, '');

  it('a chain a → b → c runs in order, whatever the order of the batch; list --json shows what each waits on', async () => {
    const jobs = await enqueueBatch([
      { id: 'c', command: step('c'), after: ['b'] },
      { id: 'b', command: step('b'), after: ['a'] },
      { id: 'a', command: step('a', 'true', join(q.home, 'go')) },
    ]);
    expect(jobs.map((j) => [j.id, j.state, j.after, j.waiting_on])).toEqual([
      ['c', 'pending', ['b'], ['b']],
      ['b', 'pending', ['a'], ['a']],
      ['a', 'pending', [], []],
    ]);
    // Four slots, so only the dependencies hold b and c back.
    startWorker(q.home, ['--count', '2']);
    await waitFor(() => markerLines(q.marker).includes('a-start'), 10_000, 'a to start');
    const listed = JSON.parse(ok(await cli(['list', '--json'])).stdout) as Array<Record<string, any>>;
    expect(Object.fromEntries(listed.map((j) => [j.id, [j.state, j.waiting_on]]))).toEqual({ a: ['processing', []], b: ['pending', ['a']], c: ['pending', ['b']] });
    expect(ok(await cli(['show', 'b'])).stdout).toMatch(/^state\s+pending \(waits on a\)$/m);
    open(join(q.home, 'go'));
    await waitForState(q.svc, 'c', 'completed', 20_000);
    expect(markerLines(q.marker)).toEqual(['a-start', 'a-end', 'b-start', 'b-end', 'c-start', 'c-end']);
    const b = await job(q.svc, 'b');
    expect(b).toMatchObject({ after: ['a'], waiting_on: [], dependents: ['c'] });
    expect(Date.parse(b.started_at)).toBeGreaterThanOrEqual(Date.parse((await job(q.svc, 'a')).finished_at));
  });

  it('a dead a makes b and c dead with the reason; dlq retry of a does not revive them, retrying them does, and they wait again', async () => {
    const flag = join(q.home, 'flag');
    await enqueueBatch([
      { id: 'a', command: step('a', `test -f '${flag}' || exit 1`), max_retries: 0 },
      { id: 'b', command: step('b', 'true', join(q.home, 'go')), after: ['a'] },
      { id: 'c', command: step('c'), after: ['b'] },
    ]);
    startWorker(q.home, ['--count', '2']);
    const c = await waitForState(q.svc, 'c', 'dead');
    const b = await job(q.svc, 'b');
    expect([b.last_error, c.last_error]).toEqual(['dependency failed: a', 'dependency failed: b']);
    expect([b.attempts, c.attempts, b.runs, c.runs]).toEqual([0, 0, [], []]);

    // b waits on a, which is still dead: refused, nothing changes.
    expectRefused(await cli(['dlq', 'retry', 'b']), 4, /waits on "a", which is dead: retry "a" first/);
    expect((await job(q.svc, 'b')).state).toBe('dead');

    writeFileSync(flag, '');
    ok(await cli(['dlq', 'retry', 'a']));
    await waitForState(q.svc, 'a', 'completed');
    // Give a released b time to be claimed, were it wrongly released.
    await new Promise((r) => setTimeout(r, 500));
    expect([(await job(q.svc, 'b')).state, (await job(q.svc, 'c')).state]).toEqual(['dead', 'dead']);

    // c first: it waits again, on b, which is dead... refused; b, then c: c waits for b.
    expectRefused(await cli(['dlq', 'retry', 'c']), 4, /waits on "b"/);
    ok(await cli(['dlq', 'retry', 'b']));
    const waiting = JSON.parse(ok(await cli(['dlq', 'retry', 'c', '--json'])).stdout);
    expect(waiting).toMatchObject({ id: 'c', state: 'pending', waiting_on: ['b'] });
    open(join(q.home, 'go'));
    await waitForState(q.svc, 'c', 'completed', 20_000);
    expect(markerLines(q.marker)).toEqual(['a-start', 'a-start', 'a-end', 'b-start', 'b-end', 'c-start', 'c-end']);
  });

  it('refuses a cycle in a batch and an unknown id, storing nothing', async () => {
    const cycle = await cli(['enqueue', JSON.stringify([{ id: 'x', command: 'true', after: ['z'] }, { id: 'y', command: 'true', after: ['x'] }, { id: 'z', command: 'true', after: ['y'] }])]);
    expectRefused(cycle, 2, /dependency cycle x -> z -> y -> x/);
    expectRefused(await cli(['run', '--after', 'x', '--', 'true']), 3, /after: job "x" not found/);
    expectRefused(await cli(['run', '--after', 'ok,', '--', 'true']), 2, /job ids separated by commas/);
    expectRefused(await cli(['enqueue', JSON.stringify({ command: 'true', after: 'x' })]), 2, /after must be an array of job ids/);
    expect(JSON.parse(ok(await cli(['list', '--json'])).stdout)).toEqual([]);
    // The REST API answers the same, in its envelope.
    const res = await api(q.svc, 'POST', '/api/jobs/batch', { jobs: [{ id: 'self', command: 'true', after: ['self'] }] });
    expect([res.status, res.body.error.code, res.body.error.message]).toEqual([400, 'invalid_input', 'after: dependency cycle self -> self']);
    expect((await api(q.svc, 'POST', '/api/jobs', { command: 'true', after: ['nope'] })).status).toBe(404);
  });

  it('a dependency completed at enqueue is satisfied at once; one dead at enqueue kills the new job at once; cancel kills the waiting jobs', async () => {
    const worker = startWorker(q.home);
    await waitForWorkers(q.svc, 1);
    ok(await cli(['run', '--id', 'done', '--', 'true']));
    ok(await cli(['run', '--id', 'broken', '--retries', '0', '--', 'false']));
    await waitForState(q.svc, 'done', 'completed');
    await waitForState(q.svc, 'broken', 'dead');
    ok(await cli(['run', '--id', 'next', '--after', 'done', '--', `echo next >> '${q.marker}'`]));
    const doomed = JSON.parse(ok(await cli(['run', '--id', 'doomed', '--after', 'done,broken', '--json', '--', 'true'])).stdout);
    expect(doomed).toMatchObject({ state: 'dead', last_error: 'dependency failed: broken', after: ['broken', 'done'] });
    await waitForState(q.svc, 'next', 'completed');

    worker.signalGroup('SIGTERM');
    await worker.exited;
    ok(await cli(['run', '--id', 'first', '--', 'true']));
    ok(await cli(['run', '--id', 'second', '--after', 'first', '--', 'true']));
    ok(await cli(['run', '--id', 'third', '--after', 'second', '--', 'true']));
    ok(await cli(['cancel', 'first']));
    expect((await job(q.svc, 'second')).last_error).toBe('dependency failed: first');
    expect((await job(q.svc, 'third')).last_error).toBe('dependency failed: second');
    expect((await job(q.svc, 'first')).dependents).toEqual(['second']);
  });

  it('the dashboard job page shows the directory, the variables by name, and links both ways', async () => {
    await enqueueBatch([
      { id: 'first', command: 'true', cwd: '/srv/app', env: { API_KEY: 'value-never-shown', MODE: 'fast' } },
      { id: 'second', command: 'true', after: ['first'] },
    ]);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems = watchPage(page, q.svc.url);
      await page.goto(`${q.svc.url}/jobs/second`);
      await page.fill('#token', q.svc.token);
      await page.click('button[type=submit]');
      await page.waitForURL(`${q.svc.url}/jobs/second`);
      expect(await page.textContent('[data-fact="after"]')).toBe('first (waiting)');
      await page.click('[data-fact="after"] a');
      await page.waitForURL(`${q.svc.url}/jobs/first`);
      expect(await page.textContent('[data-fact="cwd"]')).toBe('/srv/app');
      expect(await page.textContent('[data-fact="env"]')).toBe('API_KEY, MODE (values hidden)');
      expect(await page.content()).not.toContain('value-never-shown');
      await page.click('[data-fact="dependents"] a');
      await page.waitForURL(`${q.svc.url}/jobs/second`);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
