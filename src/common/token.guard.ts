import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { DomainError } from './domain-errors';
import { LoginThrottle } from './login-throttle';
import { tokenMatcher } from './token';

export const API_TOKEN = Symbol('API_TOKEN');
const PUBLIC = 'queuectl:public';
/** Marks a route that needs no token (the health check, the dashboard's own session routes). */
export const Public = () => SetMetadata(PUBLIC, true);

export class Unauthorized extends DomainError {
  constructor(message: string) {
    super('unauthorized', message);
  }
}

/** Every route needs `Authorization: Bearer <token>` unless marked @Public. */
@Injectable()
export class TokenGuard implements CanActivate {
  private readonly tokenMatches: (given: string) => boolean;

  constructor(
    private readonly reflector: Reflector,
    @Inject(API_TOKEN) token: string,
    private readonly throttle: LoginThrottle,
  ) {
    this.tokenMatches = tokenMatcher(token);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<Request>();
    const header = req.headers.authorization;
    // No token guesses nothing: only a token sent is throttled and counted.
    if (!header) throw new Unauthorized('missing token: send Authorization: Bearer <token>');
    await this.throttle.check(req);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !this.tokenMatches(match[1])) {
      await this.throttle.failed(req, 'wrong API token');
      throw new Unauthorized('invalid token');
    }
    return true;
  }
}
