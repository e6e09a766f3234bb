import { Body, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import type { Response } from 'express';
import { API_TOKEN } from '../common/token.guard';
import { LoginThrottle, TooManyAttempts } from '../common/login-throttle';
import { tokensMatch } from '../common/token';
import { DashboardController } from './dashboard-controller.decorator';
import { DashboardSession, DashboardSessions } from './dashboard-sessions';
import { formFields, safeNext } from './form-input';
import { AnonymousOk, CurrentSession } from './session.guard';

/** Login with the API token, logout. The login form is CSRF-protected by a pre-login session. */
@DashboardController()
export class AuthController {
  constructor(
    private readonly sessions: DashboardSessions,
    @Inject(API_TOKEN) private readonly token: string,
    private readonly throttle: LoginThrottle,
  ) {}

  @Get('login')
  @AnonymousOk()
  form(@CurrentSession() session: DashboardSession | undefined, @Query('next') next: unknown, @Res() res: Response) {
    if (session?.authenticated) return res.redirect(303, safeNext(next));
    const current = session ?? this.startSession(res, false);
    res.render('pages/login', { title: 'Log in', csrf: current.csrf, next: safeNext(next) });
  }

  @Post('login')
  @AnonymousOk()
  @HttpCode(303)
  async login(@CurrentSession() session: DashboardSession, @Body() body: unknown, @Res() res: Response) {
    const fields = formFields(body);
    const next = safeNext(fields.next);
    try {
      await this.throttle.check(res.req);
    } catch (e) {
      if (!(e instanceof TooManyAttempts)) throw e;
      res.setHeader('Retry-After', String(e.retryAfterSeconds));
      return res.status(429).render('pages/login', { title: 'Log in', csrf: session.csrf, next, error: `Too many failed logins from your address: try again in ${e.retryAfterSeconds} s.` });
    }
    if (!fields.token || !tokensMatch(fields.token, this.token)) {
      if (fields.token) await this.throttle.failed(res.req, 'wrong token in the dashboard login form');
      return res.status(401).render('pages/login', {
        title: 'Log in',
        csrf: session.csrf,
        next,
        error: fields.token ? 'That token is not the token of this queue.' : 'Enter the token.',
      });
    }
    // A new session id at login: one planted before it (session fixation) is worth nothing.
    this.startSession(res, true);
    res.redirect(303, next);
  }

  @Post('logout')
  @AnonymousOk()
  logout(@Res() res: Response) {
    this.sessions.clearCookie(res);
    res.redirect(303, '/login');
  }

  private startSession(res: Response, authenticated: boolean): DashboardSession {
    const session = this.sessions.create(authenticated);
    this.sessions.writeCookie(res, session);
    return session;
  }
}
