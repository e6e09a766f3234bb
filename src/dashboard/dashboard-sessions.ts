import { Inject, Injectable } from '@nestjs/common';
import { createHmac, randomBytes } from 'node:crypto';
import { Clock } from '../common/clock';
import { API_TOKEN } from '../common/token.guard';
import { tokensMatch } from '../common/token';

export const SESSION_COOKIE = 'queuectl_session';
/** An idle logged-in session ends after this long. */
const SESSION_IDLE_MS = 12 * 3600_000;
/** A login form left open this long must be reloaded. */
const ANONYMOUS_IDLE_MS = 3600_000;
/** Anyone can open the login page, so the sessions it creates are capped; the oldest go first. */
const MAX_ANONYMOUS = 10_000;

export interface DashboardSession {
  id: string;
  /** Synchronizer token: every form of this session carries it, and every POST must match it. */
  csrf: string;
  authenticated: boolean;
  expiresAt: number;
  /** One message for the next full page, after a form's redirect. */
  flash?: { kind: 'ok' | 'error'; text: string };
}

/**
 * Dashboard sessions, in memory: a restart of the service logs browsers out, which is the
 * price of keeping no secrets on disk besides the token. The cookie is `<id>.<mac>`, the MAC
 * keyed by a key derived from the API token, so a cookie cannot be forged without the token and
 * stops working when the token changes.
 */
@Injectable()
export class DashboardSessions {
  private readonly key: Buffer;
  private readonly sessions = new Map<string, DashboardSession>();
  private anonymous = 0;

  constructor(
    @Inject(API_TOKEN) token: string,
    private readonly clock: Clock,
  ) {
    this.key = createHmac('sha256', token).update('queuectl dashboard session key').digest();
  }

  /** The live session a cookie names, or undefined for a missing, forged or expired one. */
  fromCookie(value: string | undefined): DashboardSession | undefined {
    if (!value) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const id = value.slice(0, dot);
    if (!tokensMatch(value.slice(dot + 1), this.mac(id))) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const now = this.clock.now();
    if (session.expiresAt <= now) {
      this.destroy(session);
      return undefined;
    }
    session.expiresAt = now + (session.authenticated ? SESSION_IDLE_MS : ANONYMOUS_IDLE_MS);
    return session;
  }

  /** A new session with its own id and CSRF token (a fresh id at login prevents fixation). */
  create(authenticated: boolean): DashboardSession {
    if (!authenticated) this.evictAnonymous();
    const session: DashboardSession = {
      id: randomBytes(24).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
      authenticated,
      expiresAt: this.clock.now() + (authenticated ? SESSION_IDLE_MS : ANONYMOUS_IDLE_MS),
    };
    this.sessions.set(session.id, session);
    if (!authenticated) this.anonymous += 1;
    return session;
  }

  destroy(session: DashboardSession): void {
    if (this.sessions.delete(session.id) && !session.authenticated) this.anonymous -= 1;
  }

  cookieValue(session: DashboardSession): string {
    return `${session.id}.${this.mac(session.id)}`;
  }

  cookieMaxAgeMs(session: DashboardSession): number {
    return session.authenticated ? SESSION_IDLE_MS : ANONYMOUS_IDLE_MS;
  }

  csrfMatches(session: DashboardSession, given: unknown): boolean {
    return typeof given === 'string' && given.length > 0 && tokensMatch(given, session.csrf);
  }

  private mac(id: string): string {
    return createHmac('sha256', this.key).update(id).digest('base64url');
  }

  private evictAnonymous(): void {
    const now = this.clock.now();
    for (const s of this.sessions.values()) {
      if (this.anonymous < MAX_ANONYMOUS) break;
      if (!s.authenticated || s.expiresAt <= now) this.destroy(s);
    }
  }
}
