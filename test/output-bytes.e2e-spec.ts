import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, RunningService, api, cleanEnv, clientEnv, runOnTerminal } from './support/harness';
import { enqueue, job, setConfig, startWorker, useQueue, waitForState } from './support/workers';

/** A job's output is bytes: stored, answered, printed and followed byte for byte, in byte offsets. */

interface ByteResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** The built CLI, its stdout kept as bytes (a pipe, as in a script). */
function cliBytes(args: string[], home: string): Promise<ByteResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv({ QUEUECTL_HOME: home, ...clientEnv() }), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/** The CLI on a pseudo-terminal, as a person's shell runs it: all it drew. */
function cliOnTerminal(args: string[], home: string): Promise<{ code: number | null; screen: Buffer }> {
  return runOnTerminal(args, { QUEUECTL_HOME: home });
}

async function outputOf(svc: RunningService, id: string, query = ''): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`${svc.url}/api/jobs/${id}/output${query}`, { headers: { authorization: `Bearer ${svc.token}` } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64');

describe('output bytes', () => {
  const q = useQueue('queuectl-output-');

  /** `logs --follow` attached before the job starts: what it prints while the job writes; `onFirst` runs once it has printed something. */
  function followFromStart(id: string, onFirst?: () => void): Promise<{ code: number | null; events: number; stdout: Buffer }> {
    const follower = spawn(process.execPath, [CLI, 'logs', id, '--follow'], { env: cleanEnv({ QUEUECTL_HOME: q.home, ...clientEnv() }) });
    const out: Buffer[] = [];
    follower.stdout.on('data', (c: Buffer) => {
      out.push(c);
      if (out.length === 1) onFirst?.();
    });
    return new Promise((resolve) => follower.once('close', (code) => resolve({ code, events: out.length, stdout: Buffer.concat(out) })));
  }

  it('NUL and bytes that are not UTF-8 round-trip byte for byte through the API, logs and logs --follow', async () => {
    const expected = Buffer.concat([Buffer.from('before\0after\n'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(' not utf-8\n')]);
    await enqueue(q.svc, { id: 'bytes', command: `printf 'before\\000after\\n\\377\\376\\303 not utf-8\\n'` });
    const followed = followFromStart('bytes');
    startWorker(q.home);
    const done = await waitForState(q.svc, 'bytes', 'completed', 20_000);
    expect(await followed).toMatchObject({ code: 0, stdout: expected });

    // `show` and the API count bytes.
    expect(done.runs[0].output_bytes).toBe(expected.length);
    const answer = await outputOf(q.svc, 'bytes');
    expect(answer.body).toEqual(expected);
    expect(answer.headers.get('x-queuectl-end')).toBe(String(expected.length));
    const logs = await cliBytes(['logs', 'bytes'], q.home);
    expect(logs).toMatchObject({ code: 0, stderr: '' });
    expect(logs.stdout).toEqual(expected);
    expect((await cliBytes(['logs', 'bytes', '--follow'], q.home)).stdout).toEqual(expected);
  });

  it('logs --follow prints everything written after emoji (offsets in bytes end to end)', async () => {
    // The rest is written only once the follower has printed the emoji (or after 20 s), so
    // however slow the machine, it gets the emoji in one event and the rest in later ones.
    const expected = Buffer.from('🚀🚀 emoji, then ✓ text\nand more\n');
    const flag = join(q.home, 'emoji-seen');
    await enqueue(q.svc, {
      id: 'emoji',
      command: `printf '🚀🚀 emoji, '; i=0; while [ ! -e '${flag}' ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done; printf 'then ✓ text\\n'; sleep 1; printf 'and more\\n'`,
    });
    const followed = followFromStart('emoji', () => writeFileSync(flag, ''));
    startWorker(q.home);
    await waitForState(q.svc, 'emoji', 'completed', 20_000);
    const live = await followed;
    expect(live.events).toBeGreaterThan(1);
    expect(live).toMatchObject({ code: 0, stdout: expected });
    expect((await cliBytes(['logs', 'emoji'], q.home)).stdout).toEqual(expected);
    expect((await cliBytes(['logs', 'emoji', '--follow'], q.home)).stdout).toEqual(expected);
    expect((await cliBytes(['logs', 'emoji', '--tail', '1'], q.home)).stdout).toEqual(Buffer.from('and more\n'));
    expect((await cliBytes(['logs', 'emoji', '--tail', '1', '--follow'], q.home)).stdout).toEqual(Buffer.from('and more\n'));
  });

  it('reads from a byte offset, and follows from one (inside an emoji, as a byte offset must)', async () => {
    startWorker(q.home);
    await enqueue(q.svc, { id: 'emoji', command: `printf '🚀ab🚀cd'` });
    await waitForState(q.svc, 'emoji', 'completed', 15_000);
    const all = Buffer.from('🚀ab🚀cd');
    const from = await outputOf(q.svc, 'emoji', '?offset=6');
    expect(from.body).toEqual(all.subarray(6));
    expect([from.headers.get('x-queuectl-offset'), from.headers.get('x-queuectl-end')]).toEqual(['6', String(all.length)]);
    expect((await outputOf(q.svc, 'emoji', '?offset=99')).body).toEqual(Buffer.alloc(0));
    expect((await outputOf(q.svc, 'emoji', '?offset=2&tail=1')).status).toBe(400);

    const stream = await fetch(`${q.svc.url}/api/jobs/emoji/output/stream?run=1&offset=2`, { headers: { authorization: `Bearer ${q.svc.token}` } });
    const text = await stream.text();
    const outputs = [...text.matchAll(/event: output\nid: (\S+)\ndata: (.*)\n/g)].map((m) => ({ id: m[1], ...JSON.parse(m[2]) }));
    expect(outputs).toEqual([{ id: `1:${all.length}`, offset: 2, data_base64: b64(all.subarray(2)) }]);
    expect(JSON.parse(/event: end\ndata: (.*)\n/.exec(text)![1])).toMatchObject({ run: 1, state: 'completed', bytes: all.length, truncated: false });
    // A reconnecting EventSource sends the last id it saw: nothing is sent twice.
    const resumed = await fetch(`${q.svc.url}/api/jobs/emoji/output/stream`, { headers: { authorization: `Bearer ${q.svc.token}`, 'last-event-id': `1:${all.length}` } });
    expect(await resumed.text()).not.toContain('event: output');
    expect((await api(q.svc, 'GET', '/api/jobs/emoji/output/stream?offset=3')).status).toBe(400);
  });

  it('logs shows escape sequences and bytes that are not UTF-8 escaped on a terminal, raw with --raw and when piped', async () => {
    startWorker(q.home);
    const raw = Buffer.concat([Buffer.from('\u001b[31mred\u001b[0m \u001b]0;title\u0007 nul:'), Buffer.from([0, 0xff]), Buffer.from(' ok ✓\n')]);
    await enqueue(q.svc, { id: 'colours', command: `printf '\\033[31mred\\033[0m \\033]0;title\\007 nul:\\000\\377 ok ✓\\n'` });
    await waitForState(q.svc, 'colours', 'completed', 15_000);

    const shown = await cliOnTerminal(['logs', 'colours'], q.home);
    expect(shown.code).toBe(0);
    // The terminal turns \n into \r\n; nothing else of the output reaches it unescaped.
    expect(shown.screen.toString('utf8')).toBe('\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 nul:\\x00\\xff ok ✓\r\n');
    const followed = await cliOnTerminal(['logs', 'colours', '--follow'], q.home);
    expect(followed.screen.toString('utf8')).toContain('\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 nul:\\x00\\xff ok ✓\r\n');
    expect(followed.screen.includes(0x1b)).toBe(false);

    const rawOnTerminal = await cliOnTerminal(['logs', 'colours', '--raw'], q.home);
    expect(rawOnTerminal.screen.includes(Buffer.from('\u001b[31mred'))).toBe(true);
    expect((await cliBytes(['logs', 'colours'], q.home)).stdout).toEqual(raw);
  });

  it('logs of a job that has not run, or ran with no output, says so on stderr, prints nothing and exits 0', async () => {
    await enqueue(q.svc, { id: 'later', command: 'true', run_at: new Date(Date.now() + 3_600_000).toISOString() });
    const notRun = await cliBytes(['logs', 'later'], q.home);
    expect(notRun).toMatchObject({ code: 0, stdout: Buffer.alloc(0) });
    expect(notRun.stderr).toBe('queuectl: job "later" has not run yet, so it has no output\n');

    startWorker(q.home);
    await enqueue(q.svc, { id: 'silent', command: 'true' });
    await waitForState(q.svc, 'silent', 'completed', 15_000);
    const silent = await cliBytes(['logs', 'silent'], q.home);
    expect(silent).toMatchObject({ code: 0, stdout: Buffer.alloc(0) });
    expect(silent.stderr).toBe('queuectl: job "silent": its latest run wrote no output\n');
    const first = await cliBytes(['logs', 'silent', '--attempt', '1', '--follow'], q.home);
    expect(first).toMatchObject({ code: 0, stdout: Buffer.alloc(0) });
    expect(first.stderr).toMatch(/^queuectl: job "silent": attempt 1 wrote no output\nqueuectl: run 1 ended: completed/);
  });
});

describe('output chunks over the worker protocol', () => {
  const q = useQueue('queuectl-chunks-');

  /** Registers as a worker and claims `id`: the test is the worker. */
  async function claimAs(svc: RunningService, id: string, command = 'true'): Promise<{ worker: string; lease: number }> {
    await enqueue(svc, { id, command });
    const worker = (await api(svc, 'POST', '/api/workers/register', { hostname: 'test', pid: process.pid, concurrency: 1 })).body.id as string;
    const claimed = (await api(svc, 'POST', `/api/workers/${worker}/claim`, { limit: 1 })).body.jobs[0];
    expect(claimed.id).toBe(id);
    return { worker, lease: claimed.lease };
  }

  const send = (svc: RunningService, worker: string, chunks: unknown[]) => api(svc, 'POST', `/api/workers/${worker}/output`, { chunks });

  it('stores a chunk sent twice once, only the new part of an overlapping one, and nothing of one that leaves a gap', async () => {
    const { worker, lease } = await claimAs(q.svc, 'retried');
    const chunk = (offset: number, text: string) => ({ id: 'retried', lease, offset, data_base64: b64(text) });
    expect((await send(q.svc, worker, [chunk(0, 'one\n')])).body).toEqual({ refused: [] });
    // The same message again (its first answer was lost), then one that repeats it and goes on.
    expect((await send(q.svc, worker, [chunk(0, 'one\n')])).body).toEqual({ refused: [] });
    expect((await send(q.svc, worker, [chunk(0, 'one\ntwo\n')])).body).toEqual({ refused: [] });
    expect((await outputOf(q.svc, 'retried')).body.toString()).toBe('one\ntwo\n');
    // Bytes 8–11 never arrived: what comes after them is not stored, and the output is marked cut.
    expect((await send(q.svc, worker, [chunk(12, 'four\n')])).body).toEqual({ refused: [] });
    const cut = await outputOf(q.svc, 'retried');
    expect(cut.body.toString()).toBe('one\ntwo\n[queuectl: output truncated after 8 bytes]\n');
    expect(cut.headers.get('x-queuectl-truncated')).toBe('true');
    // Once cut, an output takes nothing more, even the bytes that were missing: the mark stays true.
    expect((await send(q.svc, worker, [chunk(8, 'three\n')])).body).toEqual({ refused: [] });
    expect((await outputOf(q.svc, 'retried')).body).toEqual(cut.body);
    // The report's tail carries its offset too: sent with bytes already stored, they are not doubled.
    const report = await api(q.svc, 'POST', `/api/workers/${worker}/report`, {
      results: [{ id: 'retried', lease, exit_code: 0, output_base64: b64('two\n'), output_offset: 4 }],
    });
    expect(report.body.refused).toEqual([]);
    expect((await job(q.svc, 'retried')).runs[0]).toMatchObject({ output_bytes: 8, output_truncated: true });
  });

  it('refuses malformed chunks: not base64, no offset, a negative one', async () => {
    const { worker, lease } = await claimAs(q.svc, 'strict');
    for (const [bad, message] of [
      [{ id: 'strict', lease, offset: 0, data_base64: 'not base64!' }, /data_base64 must be base64/],
      [{ id: 'strict', lease, data_base64: b64('x') }, /offset must be a whole number/],
      [{ id: 'strict', lease, offset: -1, data_base64: b64('x') }, /offset must be 0 or more/],
      [{ id: 'strict', lease, offset: 0, data: 'text' }, /unknown field/],
    ] as const) {
      const res = await send(q.svc, worker, [bad]);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    const report = await api(q.svc, 'POST', `/api/workers/${worker}/report`, { results: [{ id: 'strict', lease, exit_code: 0, output_base64: b64('x') }] });
    expect(report.status).toBe(400);
    expect(report.body.error.message).toMatch(/output_offset must be a whole number/);
    expect((await job(q.svc, 'strict')).runs[0].output_bytes).toBe(0);
  });

  it('answers the last lines and tails across chunk boundaries', async () => {
    const { worker, lease } = await claimAs(q.svc, 'lines');
    const text = 'a\nbb\n\nccc\ndd';
    // One byte a chunk: every line ending sits at a chunk boundary somewhere.
    for (let i = 0; i < text.length; i++) await send(q.svc, worker, [{ id: 'lines', lease, offset: i, data_base64: b64(text[i]) }]);
    const tail = async (n: number) => (await outputOf(q.svc, 'lines', `?tail=${n}`)).body.toString();
    expect(await Promise.all([0, 1, 2, 3, 4, 5, 99].map(tail))).toEqual(['', 'dd', 'ccc\ndd', '\nccc\ndd', 'bb\n\nccc\ndd', text, text]);
    await send(q.svc, worker, [{ id: 'lines', lease, offset: text.length, data_base64: b64('\n') }]);
    // A trailing newline does not start a line of its own.
    expect(await Promise.all([1, 2].map(tail))).toEqual(['dd\n', 'ccc\ndd\n']);
  });

  it('appending the 1000th chunk writes as many bytes as appending the first', async () => {
    await setConfig(q.svc, 'output-limit', 16 * 1024 * 1024);
    const { worker, lease } = await claimAs(q.svc, 'long');
    const CHUNK = 4096;
    const data = b64(Buffer.alloc(CHUNK, 'x'));
    // wchar: every byte the service process handed to write() (the WAL, the database file, its answers).
    const written = () => Number(/^wchar:\s+(\d+)/m.exec(readFileSync(`/proc/${q.svc.pid}/io`, 'utf8'))![1]);
    const costs: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const before = written();
      const res = await send(q.svc, worker, [{ id: 'long', lease, offset: i * CHUNK, data_base64: data }]);
      expect(res.body).toEqual({ refused: [] });
      costs.push(written() - before);
    }
    expect((await job(q.svc, 'long')).runs[0].output_bytes).toBe(1000 * CHUNK);
    // Medians of five: a WAL checkpoint now and then lands on one append, never on most of them.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2];
    const first = median(costs.slice(0, 5));
    const last = median(costs.slice(-5));
    expect(first).toBeGreaterThanOrEqual(CHUNK);
    expect(last).toBeLessThanOrEqual(first * 1.5);
  });
});
