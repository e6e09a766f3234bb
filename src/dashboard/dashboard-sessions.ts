import { Inject, Injectable } from '@nestjs/common';
import type { CookieOptions, Response } from 'express';
import { createHmac, randomBytes } from 'node:crypto';
import { Clock } from '../common/clock';
import { API_TOKEN } from '../common/token.guard';
import { tokensMatch } from '../common/token';

export const SESSION_COOKIE = 'queuectl_session';
export const FLASH_COOKIE = 'queuectl_flash';
/** An idle logged-in session ends after this long. */
const SESSION_IDLE_MS = 12 * 3600_000;
/** A login form left open this long must be reloaded. */
const ANONYMOUS_IDLE_MS = 3600_000;
/** A flash message waits this long for the page after a form's redirect. */
const FLASH_MS = 60_000;
/** The cookie is sent again (sliding the idle window) once this much of the window has passed. */
const REFRESH_AFTER_FRACTION = 0.25;

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface DashboardSession {
  id: string;
  /** Synchronizer token: every form of this session carries it, and every POST must match it. */
  csrf: string;
  authenticated: boolean;
  expiresAt: number;
  /** One message for the next full page, after a form's redirect. */
  flash?: Flash;
}

interface SessionClaims {
  sid: string;
  auth: boolean;
  exp: number;
}

/**
 * Dashboard sessions as signed cookies, kept by the browser and by no server: any replica behind
 * a round-robin proxy reads the session another replica started, and a restart logs nobody out.
 *
 * The cookie is `<claims>.<mac>`: base64url JSON of the session id, whether it logged in, and
 * when it expires, with an HMAC keyed by a key derived from the API token, so it cannot be forged
 * or extended without the token and stops working when the token changes. The CSRF token is an
 * HMAC of the session id under the same key, so every replica derives the same one. A flash
 * message travels the same way, in a cookie of its own that lives for one redirect.
 *
 * The price of keeping no state: logout removes the cookie from the browser, but a copy taken
 * before stays valid until its idle expiry or until the token is rotated (DECISIONS.md).
 */
@Injectable()
export class DashboardSessions {
  private readonly key: Buffer;

  constructor(
    @Inject(API_TOKEN) token: string,
    private readonly clock: Clock,
  ) {
    this.key = createHmac('sha256', token).update('queuectl dashboard session key').digest();
  }

  /** The live session a cookie names, or undefined for a missing, forged or expired one. */
  fromCookie(value: string | undefined): DashboardSession | undefined {
    const claims = this.verify<SessionClaims>(value, 'session');
    if (!claims || typeof claims.sid !== 'string' || typeof claims.auth !== 'boolean' || typeof claims.exp !== 'number') return undefined;
    if (claims.exp <= this.clock.now()) return undefined;
    return { id: claims.sid, csrf: this.csrfOf(claims.sid), authenticated: claims.auth, expiresAt: claims.exp };
  }

  /** A new session with its own id and CSRF token (a fresh id at login prevents fixation). */
  create(authenticated: boolean): DashboardSession {
    const id = randomBytes(24).toString('base64url');
    return { id, csrf: this.csrfOf(id), authenticated, expiresAt: this.clock.now() + this.idleMs(authenticated) };
  }

  /** The session with its idle window started again now. */
  renewed(session: DashboardSession): DashboardSession {
    return { ...session, expiresAt: this.clock.now() + this.idleMs(session.authenticated) };
  }

  /** Whether enough of the idle window has passed that the cookie is worth sending again. */
  dueForRenewal(session: DashboardSession): boolean {
    const window = this.idleMs(session.authenticated);
    return session.expiresAt - this.clock.now() < window * (1 - REFRESH_AFTER_FRACTION);
  }

  /** Sends the session's cookie with the response. */
  writeCookie(res: Response, session: DashboardSession): void {
    res.cookie(SESSION_COOKIE, this.cookieValue(session), { ...cookieOptions(res), maxAge: this.cookieMaxAgeMs(session) });
  }

  clearCookie(res: Response): void {
    res.clearCookie(SESSION_COOKIE, cookieOptions(res));
  }

  /** Sends a flash message for the session's next full page. */
  writeFlash(res: Response, session: DashboardSession, flash: Flash): void {
    res.cookie(FLASH_COOKIE, this.flashCookieValue(session, flash), { ...cookieOptions(res), maxAge: FLASH_MS });
  }

  clearFlash(res: Response): void {
    res.clearCookie(FLASH_COOKIE, cookieOptions(res));
  }

  cookieValue(session: DashboardSession): string {
    const claims: SessionClaims = { sid: session.id, auth: session.authenticated, exp: session.expiresAt };
    return this.sign(claims, 'session');
  }

  cookieMaxAgeMs(session: DashboardSession): number {
    return Math.max(0, session.expiresAt - this.clock.now());
  }

  csrfMatches(session: DashboardSession, given: unknown): boolean {
    return typeof given === 'string' && given.length > 0 && tokensMatch(given, session.csrf);
  }

  /** The flash cookie for one session: it is shown only to the session that caused it. */
  private flashCookieValue(session: DashboardSession, flash: Flash): string {
    return this.sign({ sid: session.id, kind: flash.kind, text: flash.text, exp: this.clock.now() + FLASH_MS }, 'flash');
  }

  /** The message a flash cookie carries, if it is genuine, fresh and this session's. */
  flashFromCookie(session: DashboardSession, value: string | undefined): Flash | undefined {
    const claims = this.verify<{ sid: string; kind: Flash['kind']; text: string; exp: number }>(value, 'flash');
    if (!claims || claims.sid !== session.id || typeof claims.exp !== 'number' || claims.exp <= this.clock.now()) return undefined;
    if ((claims.kind !== 'ok' && claims.kind !== 'error') || typeof claims.text !== 'string') return undefined;
    return { kind: claims.kind, text: claims.text };
  }

  private idleMs(authenticated: boolean): number {
    return authenticated ? SESSION_IDLE_MS : ANONYMOUS_IDLE_MS;
  }

  private csrfOf(sessionId: string): string {
    return this.mac(`csrf\0${sessionId}`);
  }

  /** `purpose` keeps one kind of cookie from being replayed as another. */
  private sign(claims: object, purpose: string): string {
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${body}.${this.mac(`${purpose}\0${body}`)}`;
  }

  private verify<T>(value: string | undefined, purpose: string): Partial<T> | undefined {
    if (!value || value.length > 4096) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const body = value.slice(0, dot);
    if (!tokensMatch(value.slice(dot + 1), this.mac(`${purpose}\0${body}`))) return undefined;
    try {
      const claims: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      return claims !== null && typeof claims === 'object' ? (claims as Partial<T>) : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64url');
  }
}

function cookieOptions(res: Response): CookieOptions {
  return { httpOnly: true, sameSite: 'strict', secure: res.req.secure, path: '/' };
}
