import { CanActivate, ExecutionContext, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { CsrfRejected, LoginRequired } from './dashboard-errors';
import { DashboardSession, DashboardSessions, Flash, FLASH_COOKIE, SESSION_COOKIE } from './dashboard-sessions';

const ANONYMOUS_OK = 'queuectl:dashboard-anonymous';
/** The login routes: they run without a logged-in session, but their forms are still CSRF-checked. */
export const AnonymousOk = () => SetMetadata(ANONYMOUS_OK, true);

type SessionRequest = Request & { dashboardSession?: DashboardSession };

/** The session the guard found for this request (undefined only on anonymous routes). */
export const CurrentSession = createParamDecorator(
  (_: unknown, context: ExecutionContext) => context.switchToHttp().getRequest<SessionRequest>().dashboardSession,
);

/**
 * Guards every dashboard route: a logged-in session is required (except on the login routes),
 * and any request that changes something must carry the session's CSRF token in `_csrf`.
 * Views get the token and a pending flash message through `res.locals`. Sessions and flash
 * messages are signed cookies (DashboardSessions), so any replica serves any browser.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    private readonly sessions: DashboardSessions,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<SessionRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const session = this.sessions.fromCookie(req.cookies?.[SESSION_COOKIE]);
    const anonymousOk = this.reflector.getAllAndOverride<boolean>(ANONYMOUS_OK, [context.getHandler(), context.getClass()]);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (!session || !this.sessions.csrfMatches(session, (req.body as Record<string, unknown> | undefined)?._csrf)) throw new CsrfRejected();
    }
    if (!anonymousOk && !session?.authenticated) throw new LoginRequired();
    res.setHeader('Cache-Control', 'no-store');
    if (session) {
      res.locals.csrf = session.csrf;
      res.locals.loggedIn = session.authenticated;
      const fullPage = req.method === 'GET' && !req.path.startsWith('/fragments/');
      // Sliding idle expiry: a full page now and then sends the cookie again.
      if (fullPage && this.sessions.dueForRenewal(session)) this.sessions.writeCookie(res, this.sessions.renewed(session));
      // A fragment is a part of a page: the message waits for the next full page.
      const pending = req.cookies?.[FLASH_COOKIE];
      if (fullPage && pending !== undefined) {
        res.locals.flash = this.sessions.flashFromCookie(session, pending);
        this.sessions.clearFlash(res);
      }
    }
    req.dashboardSession = session && this.withFlashSetter(session, res);
    return true;
  }

  /** Controllers set `session.flash` before they redirect; setting it sends the flash cookie. */
  private withFlashSetter(session: DashboardSession, res: Response): DashboardSession {
    const sessions = this.sessions;
    let flash: Flash | undefined;
    return Object.defineProperty(session, 'flash', {
      get: () => flash,
      set(value: Flash | undefined) {
        flash = value;
        if (value) sessions.writeFlash(res, session, value);
      },
      enumerable: true,
    });
  }
}
