import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDirectory } from './directories';

/** The fewest characters a token file may hold; a generated token has 43. */
export const MIN_TOKEN_FILE_LENGTH = 32;

/** A token file that must not be trusted: too short to resist guessing, or readable by others. */
export class TokenFileRefused extends Error {}

/**
 * The token in `file`, or undefined when there is no such file. A file others may read, or one
 * holding fewer than MIN_TOKEN_FILE_LENGTH characters, is refused: either way someone else may
 * know or guess the token that runs shell commands here.
 */
export function readTokenFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    // The mode and the content of one opened file: a rename in between cannot pair them wrongly.
    const mode = fstatSync(fd).mode & 0o777;
    if (mode & 0o077) {
      throw new TokenFileRefused(`token file ${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): run chmod 600 ${file}`);
    }
    const token = readFileSync(fd, 'utf8').trim();
    if (token.length < MIN_TOKEN_FILE_LENGTH || /\s/.test(token)) {
      throw new TokenFileRefused(
        `token file ${file} holds ${/\s/.test(token) ? 'a token with blanks' : `${token.length} characters`}; a token needs ${MIN_TOKEN_FILE_LENGTH} or more without blanks: delete the file to have one generated`,
      );
    }
    return token;
  } finally {
    closeSync(fd);
  }
}

/** Reads `<home>/token`, or creates it (mode 0600) on first start. */
export function loadOrCreateToken(home: string): string {
  const file = join(home, 'token');
  ensureDirectory(home);
  const existing = readTokenFile(file);
  if (existing !== undefined) return existing;
  const token = randomBytes(32).toString('base64url');
  // 'wx' fails if another process created it meanwhile; then theirs wins.
  try {
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readTokenFile(file) ?? token;
    throw e;
  }
  chmodSync(file, 0o600);
  return token;
}

/**
 * Constant-time comparison with a secret known in advance: hashing makes both sides the same
 * length, and the secret's digest is taken once. Every API request is checked, and two
 * `createHash` objects a check cost the service more than the rest of its token guard.
 */
export function tokenMatcher(expected: string): (given: string) => boolean {
  const want = digest(expected);
  return (given) => timingSafeEqual(digest(given), want);
}

/** Constant-time comparison of two values that both vary (a session's CSRF token, a cookie's MAC). */
export function tokensMatch(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function digest(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}
