/**
 * Preloaded (`node -r`) by bench/latency-parts.ts into the service ($QUEUECTL_PARTS_ROLE=service)
 * and into the worker (=worker). Stamps the moments of each enqueue → start on the wall clock, in
 * ms with µs precision, so the processes' stamps line up; on SIGUSR2 writes them as JSON lines to
 * $QUEUECTL_PARTS_OUT and starts over. One enqueue at a time is assumed: stamps go to the last
 * enqueue that arrived (service) or claim answer that came (worker).
 *
 *   service: the enqueue arrives; its statements go to the database and come back (on SQLite the
 *            INSERT, the handoff's claim and COMMIT, each a trip to SQLite's thread; on
 *            PostgreSQL also BEGIN with the read of the queue settings, each a round trip; or,
 *            there, one statement in autocommit: the job inserted claimed for the waiting worker);
 *            the long-poll's answer and the enqueue's are written
 *   worker:  a claim answer with a job arrives; spawn() is called and returns
 */
import { renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const now = () => performance.timeOrigin + performance.now();
type Sample = Record<string, number>;
const samples: Sample[] = [];
let current: Sample | undefined;
const stamp = (key: string) => {
  if (current && current[key] === undefined) current[key] = now();
};

/** Which step of the enqueue a statement is, by its text. */
function step(sql: string): string | undefined {
  // PostgreSQL: the job inserted already claimed for the waiting worker, by one statement in autocommit.
  if (/^WITH unit AS \(INSERT INTO jobs\b[^]*'processing'/.test(sql)) return 'alone';
  if (/^\s*INSERT INTO jobs\b/.test(sql)) return 'insert';
  if (/SET state = 'processing'/.test(sql)) return 'claim';
  // On PostgreSQL the BEGIN goes with the unit's first statement when it has no parameters.
  if (/^BEGIN(;|$)/.test(sql)) return 'begin';
  // PostgreSQL sends the transaction's notifications in the COMMIT's own string; SQLite opens the next transaction in it.
  if (/(^|; )COMMIT(;|$)/.test(sql)) return 'commit';
  return undefined;
}

if (process.env.QUEUECTL_PARTS_ROLE === 'service') {
  const traced = (sql: string) => {
    const kind = step(sql);
    // Once the long-poll is answered, the statements are the next unit's (the job's report, say).
    if (kind === undefined || current?.polled !== undefined) return;
    stamp(`${kind}Sent`);
    return () => stamp(`${kind}Back`);
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { hookSqlite } = require('./sqlite-hook') as typeof import('./sqlite-hook');
  hookSqlite(traced);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pg = require('pg') as typeof import('pg');
  const query = pg.Client.prototype.query as (this: unknown, ...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
    const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '');
    const back = traced(text);
    // A pool's query passes a callback (a statement in autocommit goes through the pool); a client's returns a promise.
    const last = args.length - 1;
    if (back && typeof args[last] === 'function') {
      const callback = args[last] as (...a: unknown[]) => unknown;
      args[last] = (...a: unknown[]) => (back(), callback(...a));
    }
    const answer = query.apply(this, args);
    if (back && answer instanceof Promise) answer.then(back, () => undefined);
    return answer;
  } as typeof pg.Client.prototype.query;
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (this: http.Server, ...args: Parameters<typeof emit>) {
    const [event, req] = args as unknown as [string, http.IncomingMessage];
    if (event === 'request' && req.method === 'POST' && req.url === '/api/jobs') samples.push((current = { arrived: now() }));
    return emit.apply(this, args);
  } as typeof emit;
  const end = http.ServerResponse.prototype.end;
  http.ServerResponse.prototype.end = function (this: http.ServerResponse, ...args: unknown[]) {
    const url = this.req?.url ?? '';
    if ((current?.commitBack ?? current?.aloneBack) !== undefined && /^\/api\/workers\/[^/]+\/claim$/.test(url)) stamp('polled');
    if (url === '/api/jobs') stamp('answered');
    return end.apply(this, args as Parameters<typeof end>);
  } as typeof end;
} else {
  const emit = net.Socket.prototype.emit;
  net.Socket.prototype.emit = function (this: net.Socket, ...args: Parameters<typeof emit>) {
    const [event, data] = args as unknown as [string | symbol, unknown];
    if (event === 'data' && Buffer.isBuffer(data) && data.includes('"jobs":[{')) samples.push((current = { received: now() }));
    return emit.apply(this, args);
  } as typeof emit;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const childProcess = require('node:child_process') as typeof import('node:child_process');
  const spawn = childProcess.spawn;
  childProcess.spawn = function (this: unknown, ...args: unknown[]) {
    stamp('spawnCalled');
    const child = (spawn as (...a: unknown[]) => unknown).apply(this, args);
    stamp('spawnReturned');
    current = undefined;
    return child;
  } as typeof spawn;
}

process.on('SIGUSR2', () => {
  // Whole or not at all: the benchmark reads the file once it exists.
  const out = process.env.QUEUECTL_PARTS_OUT!;
  writeFileSync(`${out}.part`, samples.map((s) => JSON.stringify(s) + '\n').join(''));
  renameSync(`${out}.part`, out);
  samples.length = 0;
  current = undefined;
});
