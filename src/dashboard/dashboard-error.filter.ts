import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../common/domain-errors';
import { STATUS_OF } from '../common/error-envelope.filter';
import { CsrfRejected, LoginRequired } from './dashboard-errors';

const TITLES: Record<number, string> = { 400: 'Not accepted', 403: 'Refused', 404: 'Not found', 409: 'Not possible now', 503: 'Storage unavailable' };

/**
 * The dashboard's transport mapping: errors become readable pages (or a redirect to the login
 * form), never the API's JSON envelope. Parts of pages fetched by the refresh script get a bare
 * status, so the script can react instead of pasting a page into a page.
 */
@Catch()
export class DashboardErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('dashboard');

  catch(exception: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) {
      res.end();
      return;
    }
    const fragment = req.path.startsWith('/fragments/');
    if (exception instanceof LoginRequired) {
      if (fragment) {
        res.status(401).type('text/plain').send('log in again');
        return;
      }
      const next = req.method === 'GET' && req.originalUrl !== '/' ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
      res.redirect(303, `/login${next}`);
      return;
    }
    let status = 500;
    let message = 'Something went wrong inside the service; its log has the details.';
    if (exception instanceof CsrfRejected) {
      status = 403;
      message = exception.message;
    } else if (exception instanceof DomainError) {
      status = STATUS_OF[exception.code];
      message = exception.message;
    } else if (exception instanceof HttpException && exception.getStatus() === 404) {
      status = 404;
      message = 'There is no page here.';
    } else {
      this.logger.error((exception as Error)?.stack ?? String(exception));
    }
    if (fragment) {
      res.status(status).type('text/plain').send(message);
      return;
    }
    res.status(status).render('pages/error', { title: TITLES[status] ?? 'Error', status, message, loggedIn: res.locals.loggedIn });
  }
}
