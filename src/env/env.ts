// The decorators below read type metadata; loaded here so the env can be read before Nest is.
import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Matches, Max, Min, MinLength, validateSync } from 'class-validator';
import { Type } from 'class-transformer';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The boot environment of the service, read once and validated as a whole. */
export interface Env {
  /** Data directory: SQLite file, token, service record, backups. */
  home: string;
  /** Absolute path of the SQLite database file. */
  sqlitePath: string;
  host: string;
  port: number;
  /** True when the port came from the environment: a busy port is then an error, not a fallback. */
  portExplicit: boolean;
  /** Given token, or undefined to read or generate `<home>/token`. */
  token?: string;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Failed logins one client address may make in a minute before it gets 429. */
  loginFailuresPerMinute: number;
  /** Host names (and addresses) the service answers besides loopback and the bind address. */
  allowedHosts: string[];
  /** SQLite `synchronous` pragma: `full` fsyncs every commit (the default), `normal` survives process crashes only. */
  sqliteSync: 'full' | 'normal';
}

export const DEFAULT_PORT = 7411;
export const ENV = Symbol('ENV');

class EnvVars {
  @IsOptional()
  QUEUECTL_HOME?: string;

  @IsOptional()
  @Matches(/^\s*[A-Za-z0-9.\-:[\]]+\s*(,\s*[A-Za-z0-9.\-:[\]]+\s*)*,?\s*$/, {
    message: 'QUEUECTL_ALLOWED_HOSTS must be a comma-separated list of host names or IP addresses, without ports',
  })
  QUEUECTL_ALLOWED_HOSTS?: string;

  @IsOptional()
  @Matches(/^sqlite:.+/, { message: 'QUEUECTL_DATABASE_URL must be sqlite:<path> (PostgreSQL is not supported by this build yet)' })
  QUEUECTL_DATABASE_URL?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9.:\-[\]]+$/, { message: 'QUEUECTL_HOST must be a host name or an IP address' })
  QUEUECTL_HOST?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'QUEUECTL_PORT must be an integer' })
  @Min(0, { message: 'QUEUECTL_PORT must be from 0 to 65535' })
  @Max(65535, { message: 'QUEUECTL_PORT must be from 0 to 65535' })
  QUEUECTL_PORT?: number;

  @IsOptional()
  @MinLength(16, { message: 'QUEUECTL_TOKEN must be at least 16 characters' })
  // It travels as `Authorization: Bearer <token>`, which cannot carry a blank.
  @Matches(/^\S+$/, { message: 'QUEUECTL_TOKEN must not contain spaces' })
  QUEUECTL_TOKEN?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'QUEUECTL_BODY_LIMIT must be an integer number of bytes' })
  @Min(1024, { message: 'QUEUECTL_BODY_LIMIT must be at least 1024 bytes' })
  QUEUECTL_BODY_LIMIT?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'QUEUECTL_LOGIN_FAILURES must be a whole number of failed logins a minute' })
  @Min(1, { message: 'QUEUECTL_LOGIN_FAILURES must be at least 1' })
  QUEUECTL_LOGIN_FAILURES?: number;

  @IsOptional()
  @IsIn(['full', 'normal'], { message: 'QUEUECTL_SQLITE_SYNC must be full or normal' })
  QUEUECTL_SQLITE_SYNC?: string;
}

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid environment: ${problems.join('; ')}`);
  }
}

/**
 * Reads and validates every QUEUECTL_ variable, collecting all problems before failing, so a
 * user fixes their environment in one pass.
 */
export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  const present = Object.fromEntries(
    Object.entries(source).filter(([k, v]) => k.startsWith('QUEUECTL_') && v !== undefined && v.trim() !== ''),
  );
  const vars = plainToInstance(EnvVars, present);
  const errors = validateSync(vars);
  if (errors.length > 0) {
    throw new EnvError(
      errors.map((e) => {
        const message = Object.values(e.constraints ?? {})[0];
        // The token is a secret: never echo it back, not even in an error.
        return e.property === 'QUEUECTL_TOKEN' ? message : `${message} (got "${present[e.property]}")`;
      }),
    );
  }
  const home = resolve(vars.QUEUECTL_HOME ?? join(homedir(), '.queuectl'));
  const dbPath = vars.QUEUECTL_DATABASE_URL?.slice('sqlite:'.length) ?? 'queue.db';
  return {
    home,
    sqlitePath: resolve(home, dbPath),
    host: vars.QUEUECTL_HOST ?? '127.0.0.1',
    port: vars.QUEUECTL_PORT ?? DEFAULT_PORT,
    portExplicit: vars.QUEUECTL_PORT !== undefined,
    token: vars.QUEUECTL_TOKEN,
    bodyLimitBytes: vars.QUEUECTL_BODY_LIMIT ?? 16 * 1024 * 1024,
    loginFailuresPerMinute: vars.QUEUECTL_LOGIN_FAILURES ?? 10,
    allowedHosts: (vars.QUEUECTL_ALLOWED_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
    sqliteSync: vars.QUEUECTL_SQLITE_SYNC === 'normal' ? 'normal' : 'full',
  };
}

