import { Socket, connect } from 'node:net';

/**
 * One HTTP/1.1 client on one kept-alive connection, one request at a time: it sends a request,
 * waits for the whole answer, and only then may send the next.
 *
 * The benchmark's load generator shares this 2-core machine with the service it measures;
 * Node's http client spends about 180 µs of CPU a request here, as much as a third of what the
 * service spends answering it, so its cost would show up as the service's. This one writes a
 * request and reads the status line, the headers and exactly Content-Length bytes of body: the
 * service answers every request in full, as it would any client.
 */
export class KeepAliveClient {
  private socket: Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: { status: number; body: string }) => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly token: string,
  ) {}

  async post(path: string, payload: Buffer): Promise<{ status: number; body: string }> {
    if (this.waiting) throw new Error('one request at a time');
    const socket = this.socket ?? (await this.open());
    const head = `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nAuthorization: Bearer ${this.token}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port, noDelay: true }, () => {
        socket.off('error', reject);
        this.socket = socket;
        resolve(socket);
      });
      socket.once('error', reject);
      socket.on('data', (chunk: Buffer) => this.receive(chunk));
      socket.on('error', (e) => this.fail(e));
      socket.on('close', () => {
        this.socket = undefined;
        this.fail(new Error('connection closed by the service'));
      });
    });
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buffer.toString('latin1', 0, end);
    if (/\r\ntransfer-encoding:/i.test(head)) return this.fail(new Error('chunked answers are not read by this client'));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) return this.fail(new Error('answer without Content-Length'));
    const total = end + 4 + Number(length[1]);
    if (this.buffer.length < total) return;
    if (this.buffer.length > total) return this.fail(new Error('more bytes than one answer'));
    const status = Number(head.slice(9, 12));
    const body = this.buffer.toString('utf8', end + 4, total);
    this.buffer = Buffer.alloc(0);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ status, body });
  }

  private fail(e: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(e);
  }
}
