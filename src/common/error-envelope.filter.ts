import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError, ErrorCode } from './domain-errors';

/** Exhaustive: adding an ErrorCode without a status fails to compile. */
export const STATUS_OF: Record<ErrorCode, number> = {
  invalid_input: 400,
  unauthorized: 401,
  not_found: 404,
  duplicate_job: 409,
  invalid_state: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  // Misdirected Request: the Host names a server this one is not.
  wrong_host: 421,
  too_many_attempts: 429,
  storage_unavailable: 503,
  internal: 500,
  duplicate_schedule: 409,
  idempotency_conflict: 409,
};

export interface ErrorEnvelope {
  error: { code: ErrorCode; message: string; details: unknown };
}

/** Turns anything thrown into `{"error":{code,message,details}}`; internals are logged, never sent. */
export function toEnvelope(e: unknown): { status: number; body: ErrorEnvelope } {
  if (e instanceof DomainError) {
    return { status: STATUS_OF[e.code], body: { error: { code: e.code, message: e.message, details: e.details ?? null } } };
  }
  const parserError = e as { type?: string; status?: number; limit?: number };
  if (parserError?.type === 'entity.too.large') {
    return envelope('payload_too_large', `request body is larger than the limit of ${parserError.limit} bytes`);
  }
  if (parserError?.type === 'entity.parse.failed') {
    return envelope('invalid_input', 'request body is not valid JSON');
  }
  if (parserError?.type && parserError.status && parserError.status < 500) {
    return envelope('invalid_input', `request body could not be read (${parserError.type})`);
  }
  if (e instanceof HttpException) {
    const status = e.getStatus();
    if (status === HttpStatus.NOT_FOUND) return envelope('not_found', e.message);
    if (status === HttpStatus.PAYLOAD_TOO_LARGE) return envelope('payload_too_large', e.message);
    if (status === HttpStatus.UNAUTHORIZED || status === HttpStatus.FORBIDDEN) return envelope('unauthorized', e.message);
    if (status < 500) return { status, body: { error: { code: 'invalid_input', message: e.message, details: null } } };
  }
  return envelope('internal', 'internal error; the service log has the details');
}

function envelope(code: ErrorCode, message: string) {
  return { status: STATUS_OF[code], body: { error: { code, message, details: null } } as ErrorEnvelope };
}

@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  private readonly logger = new Logger('queuectl');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = toEnvelope(exception);
    // A full disk is the operator's to fix, not a fault in the code: one line, no stack.
    if (body.error.code === 'storage_unavailable') this.logger.warn(body.error.message);
    else if (status >= 500) this.logger.error((exception as Error)?.stack ?? String(exception));
    const retryAfter = (exception as { retryAfterSeconds?: unknown })?.retryAfterSeconds;
    if (typeof retryAfter === 'number' && !res.headersSent) res.setHeader('Retry-After', String(retryAfter));
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json(body);
  }
}
