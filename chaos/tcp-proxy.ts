/**
 * A loopback TCP proxy that can freeze the connections it carries: the fault of a worker cut off
 * from the service without either side seeing a reset. Frozen, it stops reading from both sides
 * and holds what it already read, so the peers' writes pile up in socket buffers exactly as on a
 * stalled network path; thawed, it forwards everything held and goes on. New connections made
 * while frozen are accepted by the kernel and wait, unanswered, until the thaw.
 *
 * Given several target ports it hands each new connection to the next one in turn: the
 * round-robin balancer in front of service replicas.
 */
import * as net from 'node:net';

export interface TcpProxy {
  /** The loopback port the proxy listens on. */
  readonly port: number;
  readonly frozen: boolean;
  freeze(): void;
  thaw(): void;
  /** Closes the listener and destroys every carried connection. */
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** Bytes read before a freeze took hold, forwarded at the thaw. */
  held: Array<{ to: net.Socket; chunk: Buffer }>;
}

export async function startTcpProxy(target: number | number[], options: { host?: string; port?: number } = {}): Promise<TcpProxy> {
  const host = options.host ?? '127.0.0.1';
  const targets = Array.isArray(target) ? target : [target];
  if (targets.length === 0) throw new Error('startTcpProxy needs at least one target port');
  let turn = 0;
  const pairs = new Set<Pair>();
  const waiting: net.Socket[] = [];
  let frozen = false;

  // Forwarding by hand rather than with pipe(): a piped socket resumes itself when its
  // destination drains, which would undo a freeze.
  const forward = (pair: Pair, from: net.Socket, to: net.Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (frozen) {
        pair.held.push({ to, chunk });
        from.pause();
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (!frozen) from.resume();
        });
      }
    });
  };

  const connect = (client: net.Socket): void => {
    const upstream = net.connect({ host, port: targets[turn++ % targets.length] });
    const pair: Pair = { client, upstream, held: [] };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end).on('end', end);
    upstream.on('error', end).on('close', end).on('end', end);
    forward(pair, client, upstream);
    forward(pair, upstream, client);
    if (frozen) pause(pair);
    else client.resume();
  };
  const pause = (pair: Pair): void => {
    pair.client.pause();
    pair.upstream.pause();
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    if (frozen) waiting.push(client);
    else connect(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get frozen() {
      return frozen;
    },
    freeze() {
      frozen = true;
      for (const pair of pairs) pause(pair);
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) {
        for (const { to, chunk } of pair.held.splice(0)) to.write(chunk);
        pair.client.resume();
        pair.upstream.resume();
      }
      for (const client of waiting.splice(0)) connect(client);
    },
    async close() {
      for (const client of waiting.splice(0)) client.destroy();
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
