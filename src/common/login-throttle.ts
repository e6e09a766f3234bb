import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { ENV, Env } from '../env/env';
import { DomainError } from './domain-errors';

/** The window failed logins are counted in; QUEUECTL_LOGIN_FAILURES of them are allowed in it. */
export const LOGIN_WINDOW_SECONDS = 60;

export class TooManyAttempts extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super('too_many_attempts', `too many failed logins from this address; try again in ${retryAfterSeconds} s`);
  }
}

/**
 * Counts failed logins (a wrong or missing API token, a wrong token in the dashboard's form) per
 * client address. Past the limit, every login from that address is refused until the window
 * ends, the right token included: answering a right guess would let guessing go on at full
 * speed. Each failure is logged with the address and the route, never with what was sent.
 */
@Injectable()
export class LoginThrottle {
  private readonly allowed: number;
  private readonly failures: RateLimiterMemory;
  private readonly logger = new Logger('queuectl');

  constructor(@Inject(ENV) env: Env) {
    this.allowed = env.loginFailuresPerMinute;
    this.failures = new RateLimiterMemory({ points: this.allowed, duration: LOGIN_WINDOW_SECONDS });
  }

  /** Throws TooManyAttempts while `req`'s address is over the limit. */
  async check(req: Request): Promise<void> {
    const state = await this.failures.get(clientOf(req));
    if (state && state.consumedPoints >= this.allowed) throw new TooManyAttempts(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
  }

  async failed(req: Request, what: string): Promise<void> {
    const client = clientOf(req);
    const state = await this.failures.penalty(client);
    this.logger.warn(`failed login from ${client}: ${what} on ${req.method} ${req.path.slice(0, 200)} (${state.consumedPoints} in ${LOGIN_WINDOW_SECONDS} s)`);
  }
}

/** The client's address: the socket's, or with QUEUECTL_TRUST_PROXY the one its trusted proxies name. */
function clientOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
