/**
 * `node dist/bench/enqueue-alone.js [--db sqlite|postgres] [--samples 200] [--gap-ms 20] [--pause-ms 0]`: what one
 * request answers in on an idle service, one at a time with a pause between them (nothing else
 * queued, no other client). Interleaves, on one kept-alive connection:
 *
 *   health   GET /api/health — the HTTP and Nest floor of a request, with no database work
 *   status   GET /api/status — the floor plus a read
 *   enqueue  POST /api/jobs — a durable write (one transaction, its fsync)
 *
 * and prints the medians, so the enqueue's time splits into the floor, the read and the write.
 * Prints the service's pid first (stderr) so `strace -f -c -p PID` (attached during --pause-ms)
 * can count its fsyncs.
 */
import { randomBytes } from 'node:crypto';
import { Socket, connect } from 'node:net';
import { BenchDatabase, Service, benchOption, median, percentile, startService } from './bench-support';
import { DEFAULT_POSTGRES_URL, freshSchema } from './bench-postgres';

/** One request on one kept-alive socket; the answer is read up to Content-Length. */
function request(socket: Socket, head: string, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buffer.toString('latin1', 0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve(Number(buffer.toString('latin1', 9, 12)));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1'));
  });
}

async function main(): Promise<void> {
  const db = benchOption('db', 'sqlite');
  const samples = Number(benchOption('samples', '200'));
  const gapMs = Number(benchOption('gap-ms', '20'));
  const schema = db === 'postgres' ? freshSchema(benchOption('db-url', DEFAULT_POSTGRES_URL)) : undefined;
  let svc: Service | undefined;
  try {
    svc = await startService(schema as BenchDatabase | undefined);
    process.stderr.write(`service pid ${svc.process.pid}\n`);
    const { hostname, port } = new URL(svc.url);
    const socket = connect({ host: hostname, port: Number(port), noDelay: true });
    await new Promise((r) => socket.once('connect', r));
    const auth = `Host: ${hostname}:${port}\r\nAuthorization: Bearer ${svc.token}\r\n`;
    const get1 = (path: string) => `GET ${path} HTTP/1.1\r\n${auth}\r\n`;
    const kinds = {
      health: () => request(socket, get1('/api/health')),
      status: () => request(socket, get1('/api/status')),
      enqueue: () => {
        const body = Buffer.from(JSON.stringify({ command: `echo ${randomBytes(4).toString('hex')}` }));
        return request(socket, `POST /api/jobs HTTP/1.1\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, body);
      },
    };
    const times: Record<string, number[]> = { health: [], status: [], enqueue: [] };
    for (let i = 0; i < 20; i++) for (const k of Object.values(kinds)) await k();
    // Time to attach a tracer to the service before the samples (--pause-ms).
    await new Promise((r) => setTimeout(r, Number(benchOption('pause-ms', '0'))));
    for (let i = 0; i < samples; i++) {
      for (const [name, send] of Object.entries(kinds)) {
        await new Promise((r) => setTimeout(r, gapMs));
        const t0 = process.hrtime.bigint();
        const status = await send();
        times[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (status >= 300) throw new Error(`${name}: HTTP ${status}`);
      }
    }
    socket.destroy();
    const out = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { median: +median(v).toFixed(3), p10: +percentile(v, 10).toFixed(3), p90: +percentile(v, 90).toFixed(3) }]));
    process.stdout.write(`${JSON.stringify({ db, samples, gapMs, ...out })}\n`);
  } finally {
    await svc?.stop();
    await schema?.drop();
  }
}

main().catch((e) => {
  process.stderr.write(`enqueue-alone failed: ${(e as Error).message}\n`);
  process.exit(1);
});
