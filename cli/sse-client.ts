import type { IncomingMessage } from 'node:http';
import { ApiError, Endpoint, ServiceUnreachable, clientFor } from './http';

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Opens a streamed GET on the API: resolves with the answer once its status is 2xx, to be read
 * as it arrives. An error answer rejects with ApiError, no answer with ServiceUnreachable, like
 * cli/http.ts.
 */
export function openStream(endpoint: Endpoint, path: string, accept: string): Promise<IncomingMessage> {
  const url = new URL(path, endpoint.url);
  // The stream keeps its connection to itself: not the request pool's agent.
  const { client } = clientFor(url);
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = client.get(url, { headers: { authorization: `Bearer ${endpoint.token}`, accept } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return resolve(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let envelope: { error?: { code?: string; message?: string; details?: unknown } } = {};
        try {
          envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          /* not JSON */
        }
        reject(new ApiError(status, envelope.error?.code ?? 'http_error', envelope.error?.message ?? `HTTP ${status}`, envelope.error?.details));
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(new ServiceUnreachable(`cannot reach the service at ${endpoint.url}: ${e.code ?? e.message}`)));
  });
}

/** Reads an open answer to its end, piece by piece; a stream cut short rejects with ServiceUnreachable. */
export function readBody(res: IncomingMessage, onData: (chunk: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let ended = false;
    res.on('data', onData);
    res.on('end', () => {
      ended = true;
      resolve();
    });
    res.on('error', (e) => reject(new ServiceUnreachable(`the answer broke off: ${e.message}`)));
    res.on('close', () => !ended && reject(new ServiceUnreachable('the answer broke off before its end')));
  });
}

/**
 * Reads a server-sent event stream from the API until it ends: calls `onEvent` for each event,
 * resolves when the service closes the stream.
 */
export async function readEvents(endpoint: Endpoint, path: string, onEvent: (e: SseEvent) => void): Promise<void> {
  const res = await openStream(endpoint, path, 'text/event-stream');
  res.setEncoding('utf8');
  let buffer = '';
  await new Promise<void>((resolve, reject) => {
    res.on('data', (text: string) => {
      buffer += text;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseBlock(block);
        if (event) onEvent(event);
      }
    });
    res.on('end', () => resolve());
    res.on('error', (e) => reject(new ServiceUnreachable(`the stream from ${endpoint.url} broke: ${e.message}`)));
  });
}

function parseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? undefined : { event, data: data.join('\n') };
}
