import { randomBytes } from 'node:crypto';
import { ApiError, Endpoint, ServiceUnreachable, request } from '../http';
import { monotonicMs } from './monotonic-clock';
import {
  CallOptions,
  ClaimAnswer,
  HeartbeatAnswer,
  OutputChunk,
  Registration,
  ReportAnswer,
  RunRef,
  RunResult,
  WorkerApi,
} from './worker-api';

/** Thrown when a call is given up because the worker no longer needs its answer. */
export class CallAborted extends Error {
  constructor() {
    super('call aborted');
  }
}

const FIRST_RETRY_MS = 100;
/** Retries of an unreachable service never wait longer than this: a restarted service is found within it. */
const MAX_RETRY_MS = 1000;
/** A long-poll's answer may take this much longer than its wait before the request is given up. */
const LONG_POLL_SLACK_MS = 15_000;

/**
 * The worker protocol over HTTP (keep-alive, see cli/http.ts). An unreachable service is retried
 * with backoff, looking for it again before each retry (a local service may come back on another
 * port, see <home>/service.json); a service that forgot this worker (its database was reset) gets
 * it registered again.
 */
export class HttpWorkerApi implements WorkerApi {
  private workerId?: string;
  private info?: { hostname: string; pid: number; concurrency: number };

  constructor(
    private endpoint: Endpoint,
    /** Where the service is now, if that can change (the local one); undefined keeps the old endpoint. */
    private readonly discover: () => Endpoint | undefined,
    private readonly log: (line: string) => void,
    /** The queues this worker serves (told at registration and with every claim); undefined for all. */
    private readonly queues?: string[],
  ) {}

  async register(info: { hostname: string; pid: number; concurrency: number }, options: CallOptions = {}): Promise<Registration> {
    this.info = info;
    const reg = await this.call<Registration>('/api/workers/register', { ...info, ...this.served() }, options);
    this.workerId = reg.id;
    return reg;
  }

  claim(limit: number, waitMs: number, options: CallOptions = {}): Promise<ClaimAnswer> {
    return this.call<ClaimAnswer>(() => `/api/workers/${this.id()}/claim`, { limit, wait_ms: waitMs, ...this.served() }, options, waitMs + LONG_POLL_SLACK_MS);
  }

  /**
   * One id for every try of this report: a try whose answer was lost is answered again, not
   * redone. The first try says so, and the service skips looking for a kept answer.
   */
  report(results: RunResult[], released: RunRef[], claim: number, options: CallOptions = {}): Promise<ReportAnswer> {
    const reportId = randomBytes(12).toString('base64url');
    const body = { report_id: reportId, results, released, claim, ...this.served() };
    return this.call<ReportAnswer>(() => `/api/workers/${this.id()}/report`, (tries) => (tries === 0 ? { ...body, first_try: true } : body), options);
  }

  async heartbeat(running: RunRef[], options: CallOptions = {}): Promise<HeartbeatAnswer> {
    try {
      return await this.call<HeartbeatAnswer>(() => `/api/workers/${this.id()}/heartbeat`, { running }, options);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404 && this.info)) throw e;
      // The service no longer knows this worker (its queue was reset): join again, same jobs.
      const reg = await this.register(this.info, options);
      this.log(`the service did not know this worker any more; registered again as ${reg.id}`);
      return this.call<HeartbeatAnswer>(() => `/api/workers/${this.id()}/heartbeat`, { running }, options);
    }
  }

  output(chunks: OutputChunk[], options: CallOptions = {}): Promise<{ refused: string[] }> {
    return this.call<{ refused: string[] }>(() => `/api/workers/${this.id()}/output`, { chunks }, options);
  }

  async stopping(options: CallOptions = {}): Promise<void> {
    await this.ignoreNotFound(this.call('/api/workers/stop', { id: this.id() }, options));
  }

  async deregister(options: CallOptions = {}): Promise<void> {
    await this.ignoreNotFound(this.call(() => `/api/workers/${this.id()}/deregister`, {}, options));
  }

  /** Sent only when set, so a worker serving every queue speaks the protocol as before. */
  private served(): { queues?: string[] } {
    return this.queues ? { queues: this.queues } : {};
  }

  private id(): string {
    if (!this.workerId) throw new Error('the worker is not registered');
    return this.workerId;
  }

  private async ignoreNotFound(call: Promise<unknown>): Promise<void> {
    try {
      await call;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
  }

  /** `body` may depend on how many tries went before this one. */
  private async call<T>(path: string | (() => string), body: object | ((tries: number) => object), options: CallOptions, timeoutMs?: number): Promise<T> {
    const giveUpAt = monotonicMs() + (options.patienceMs ?? Infinity);
    let delay = FIRST_RETRY_MS;
    let failures = 0;
    for (;;) {
      try {
        const answer = await request<T>(this.endpoint, 'POST', typeof path === 'string' ? path : path(), {
          body: typeof body === 'function' ? body(failures) : body,
          timeoutMs,
        });
        if (failures > 0) this.log(`reconnected to the service at ${this.endpoint.url}`);
        return answer;
      } catch (e) {
        // 503: the service is up but its storage is not; like an outage, it passes. 429: this
        // address made too many failed logins (another client's, perhaps); that window passes too.
        const transient = e instanceof ServiceUnreachable || (e instanceof ApiError && [429, 502, 503, 504].includes(e.status));
        if (!transient) throw e;
        if (failures++ === 0) this.log(`${(e as Error).message}; retrying`);
        if (monotonicMs() + delay > giveUpAt) throw e;
        await pause(delay, options.signal);
        // Aborting ends the retries, never a request already answered or the first try.
        if (options.signal?.aborted) throw new CallAborted();
        delay = Math.min(delay * 2, MAX_RETRY_MS);
        const found = this.discover();
        if (found) this.endpoint = found;
      }
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
