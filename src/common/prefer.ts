import type { Response } from 'express';

/**
 * Whether a request's Prefer header (RFC 7240) asks for `return=minimal`: an answer without the
 * representation of what was created. The first `return` preference decides; everything else in
 * the header is ignored, as a server ignores preferences it does not take.
 */
export function prefersMinimal(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const preference of header.split(',')) {
    const [token] = preference.split(';');
    const eq = token.indexOf('=');
    if (eq < 0 || token.slice(0, eq).trim().toLowerCase() !== 'return') continue;
    return /^"?minimal"?$/i.test(token.slice(eq + 1).trim());
  }
  return false;
}

/** A successful answer given in the minimal form, saying so (an error answer never does). */
export function minimalAnswer<T>(res: Response, body: T): T {
  res.setHeader('Preference-Applied', 'return=minimal');
  return body;
}
