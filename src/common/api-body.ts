import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { isUtf8 } from 'node:buffer';
import { DomainError, InvalidInput } from './domain-errors';
import { toEnvelope } from './error-envelope.filter';

/** Deeper than any body of the API (a batch is three levels), far below what recursion survives. */
export const MAX_JSON_DEPTH = 32;

export class UnsupportedMediaType extends DomainError {
  constructor(got: string | undefined) {
    super('unsupported_media_type', `the API reads JSON bodies only: send the header Content-Type: application/json${got ? ` (got ${JSON.stringify(got.slice(0, 100))})` : ' (none was sent)'}`);
  }
}

/**
 * How deeply arrays and objects nest in `body`, counted on the raw bytes (strings skipped), so
 * a hostile body is refused before JSON.parse and the validation pipe recurse into it. Stops
 * counting at `max + 1`.
 */
export function jsonDepthExceeds(body: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Checks the raw bytes before they are decoded: invalid UTF-8 would silently become U+FFFD in a
 * stored command, and deep nesting would overflow the validation pipe's stack.
 */
function checkRawJson(_req: unknown, _res: unknown, body: Buffer, encoding: string): void {
  if (encoding.toLowerCase().replace('-', '') === 'utf8' && !isUtf8(body)) {
    throw new InvalidInput('request body is not valid UTF-8: commands and every other text must be UTF-8');
  }
  if (jsonDepthExceeds(body, MAX_JSON_DEPTH)) throw new InvalidInput(`request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
}

/**
 * The body parsers. The API (any case of `/api/`) speaks JSON only: a body of another type is
 * refused with 415 rather than read as no body. HTML forms exist only on the dashboard's pages.
 * Parser errors get the error envelope like any other.
 */
export function bodyParsers(limitBytes: number) {
  const json = express.json({ limit: limitBytes, strict: true, type: 'application/json', verify: checkRawJson });
  const form = express.urlencoded({ extended: false, limit: limitBytes });
  return (req: Request, res: Response, next: NextFunction) => {
    const done = (err?: unknown) => {
      if (!err) return next();
      const { status, body } = toEnvelope(err);
      res.status(status).json(body);
    };
    if (!req.path.toLowerCase().startsWith('/api/')) return form(req, res, done);
    // false: a body of another type (or of none); null: no body at all, which is fine, as is an
    // empty one (Content-Length: 0, as clients send for a POST without a body).
    if (req.headers['content-length'] !== '0' && req.is('application/json') === false) return done(new UnsupportedMediaType(req.headers['content-type']));
    json(req, res, done);
  };
}
