import * as net from 'node:net';
import { once } from 'node:events';
import { startTcpProxy, TcpProxy } from '../chaos/tcp-proxy';

/** The loopback proxy that the fault tests and the chaos run cut workers off with. */
describe('TCP proxy', () => {
  let echo: net.Server;
  let proxy: TcpProxy;

  beforeEach(async () => {
    echo = net.createServer((socket) => socket.pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    proxy = await startTcpProxy((echo.address() as net.AddressInfo).port);
  });
  afterEach(async () => {
    await proxy.close();
    echo.close();
  });

  const connect = async (): Promise<{ socket: net.Socket; received: () => string }> => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    await once(socket, 'connect');
    return { socket, received: () => text };
  };
  const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const until = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await settle(10);
  };

  it('forwards both ways, holds everything while frozen and delivers it in order at the thaw', async () => {
    const { socket, received } = await connect();
    socket.write('one ');
    await until(() => received() === 'one ');
    expect(received()).toBe('one ');

    proxy.freeze();
    socket.write('two ');
    socket.write('three');
    await settle(300);
    expect(received()).toBe('one ');

    proxy.thaw();
    await until(() => received() === 'one two three');
    expect(received()).toBe('one two three');
    socket.destroy();
  });

  it('leaves a connection made while frozen unanswered until the thaw', async () => {
    proxy.freeze();
    const { socket, received } = await connect();
    socket.write('late');
    await settle(300);
    expect(received()).toBe('');
    proxy.thaw();
    await until(() => received() === 'late');
    expect(received()).toBe('late');
    socket.destroy();
  });

  it('hands each new connection to the next of several targets in turn', async () => {
    const named = await Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        const server = net.createServer((socket) => socket.end(name));
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        return server;
      }),
    );
    const balancer = await startTcpProxy(named.map((s) => (s.address() as net.AddressInfo).port));
    try {
      const answers: string[] = [];
      for (let i = 0; i < 6; i++) {
        const socket = net.connect({ host: '127.0.0.1', port: balancer.port });
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        await once(socket, 'close');
        answers.push(text);
      }
      expect(answers.join('')).toBe('abcabc');
    } finally {
      await balancer.close();
      for (const server of named) server.close();
    }
  });
});
