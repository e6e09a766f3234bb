import http from 'node:http';
import type https from 'node:https';

/** An error answer of the API, with the envelope's code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** No answer at all: connection refused, reset, DNS failure or timeout. */
export class ServiceUnreachable extends Error {}

export interface Endpoint {
  url: string;
  token: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Give up after this long (default 30 s; long-polls pass their own). */
  timeoutMs?: number;
  /** More request headers (Idempotency-Key). */
  headers?: Record<string, string>;
}

// One keep-alive pool per process: the worker's claim/report loop reuses its connection.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
let httpsClient: { client: typeof https; agent: https.Agent } | undefined;

/**
 * The client module and keep-alive pool for `url`. node:https (with TLS) is loaded at the first
 * https:// request only: every CLI command and worker start-up would otherwise pay a few ms for
 * it against a local http:// service.
 */
export function clientFor(url: URL): { client: typeof http | typeof https; agent: http.Agent } {
  if (url.protocol !== 'https:') return { client: http, agent: httpAgent };
  if (!httpsClient) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const client = require('node:https') as typeof https;
    httpsClient = { client, agent: new client.Agent({ keepAlive: true, maxSockets: 64 }) };
  }
  return httpsClient;
}

/**
 * JSON over HTTP to the queuectl API, shared by the CLI and the worker program. Resolves with
 * the parsed body of a 2xx answer (undefined for 204), rejects with ApiError or ServiceUnreachable.
 */
export function request<T>(endpoint: Endpoint, method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const url = new URL(path, endpoint.url);
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const { client, agent } = clientFor(url);
  return new Promise<T>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${endpoint.token}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ServiceUnreachable(`connection to ${endpoint.url} broke: ${e.message}`)));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          const isJson = String(res.headers['content-type'] ?? '').includes('json');
          let body: unknown = raw;
          if (isJson && raw.length > 0) {
            try {
              body = JSON.parse(raw);
            } catch {
              return reject(new ApiError(status, 'bad_response', `the service sent malformed JSON (HTTP ${status})`));
            }
          }
          if (status >= 200 && status < 300) return resolve((raw.length === 0 ? undefined : body) as T);
          const envelope = (body as { error?: { code?: string; message?: string; details?: unknown } })?.error;
          reject(new ApiError(status, envelope?.code ?? 'http_error', envelope?.message ?? `HTTP ${status}`, envelope?.details));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 30_000} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new ServiceUnreachable(`cannot reach the service at ${endpoint.url}: ${e.code ?? e.message}`)));
    req.end(payload);
  });
}
