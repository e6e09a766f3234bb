// The decorators below read type metadata; loaded here so the env can be read before Nest is.
import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Matches, Max, Min, MinLength, validateSync } from 'class-validator';
import { Type } from 'class-transformer';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The boot environment of the service, read once and validated as a whole. */
export interface Env {
  /** Data directory: SQLite file, token, service record, backups. */
  home: string;
  /** Where the queue is stored: a SQLite file (the default) or a PostgreSQL database. */
  database: DatabaseTarget;
  host: string;
  port: number;
  /** True when the port came from the environment: a busy port is then an error, not a fallback. */
  portExplicit: boolean;
  /**
   * Given token (QUEUECTL_TOKEN, or the file QUEUECTL_TOKEN_FILE names), or undefined to read or
   * generate `<home>/token`. Always given on PostgreSQL: replicas share no home.
   */
  token?: string;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Failed logins one client address may make in a minute before it gets 429. */
  loginFailuresPerMinute: number;
  /** Host names (and addresses) the service answers besides loopback and the bind address. */
  allowedHosts: string[];
  /**
   * Express's `trust proxy`: which hops' X-Forwarded-For to believe for the client address (the
   * failed-login count is per client). False: none, the default.
   */
  trustProxy: false | number | string;
  /** SQLite `synchronous` pragma: `full` fsyncs every commit (the default), `normal` survives process crashes only. */
  sqliteSync: 'full' | 'normal';
}

export type DatabaseTarget =
  | { dialect: 'sqlite'; /** Absolute path of the database file. */ path: string }
  | {
      dialect: 'postgres';
      /** The connection URL as given, without the `schema` and `prepared_statements` parameters. */
      url: string;
      /** The schema the tables live in (`?schema=NAME`), or undefined for the server's search_path. */
      schema?: string;
      /** Named statements, unless `?prepared_statements=false` (for a pooler that does not carry them); default on. */
      prepared?: boolean;
    };

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
  @Matches(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, { message: 'QUEUECTL_DATABASE_URL must be sqlite:<path> or postgres://user@host:port/database[?schema=NAME]' })
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
  QUEUECTL_TOKEN_FILE?: string;

  @IsOptional()
  QUEUECTL_DATABASE_PASSWORD_FILE?: string;

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
  @Matches(/^(\d{1,2}|[A-Za-z0-9.:/]+(\s*,\s*[A-Za-z0-9.:/]+)*)$/, {
    message: 'QUEUECTL_TRUST_PROXY must be a number of proxy hops or a comma list of proxy addresses, subnets or loopback/linklocal/uniquelocal',
  })
  QUEUECTL_TRUST_PROXY?: string;

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
  const problems: string[] = [];
  // The token file stands for QUEUECTL_TOKEN (a Compose or Kubernetes secret), checked the same way.
  if (present.QUEUECTL_TOKEN_FILE !== undefined) {
    if (present.QUEUECTL_TOKEN !== undefined) problems.push('set QUEUECTL_TOKEN or QUEUECTL_TOKEN_FILE, not both');
    else {
      try {
        present.QUEUECTL_TOKEN = readFileSync(present.QUEUECTL_TOKEN_FILE, 'utf8').trim();
      } catch (e) {
        problems.push(`QUEUECTL_TOKEN_FILE cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (got "${present.QUEUECTL_TOKEN_FILE}")`);
      }
    }
  }
  const vars = plainToInstance(EnvVars, present);
  const errors = validateSync(vars);
  problems.push(
    ...errors.map((e) => {
      const message = Object.values(e.constraints ?? {})[0];
      // The token is a secret: never echo it back, not even in an error.
      return e.property === 'QUEUECTL_TOKEN' ? message : `${message} (got "${present[e.property]}")`;
    }),
  );
  const database = errors.some((e) => e.property === 'QUEUECTL_DATABASE_URL')
    ? undefined
    : withPasswordFile(databaseTarget(vars.QUEUECTL_DATABASE_URL, problems), vars.QUEUECTL_DATABASE_PASSWORD_FILE, problems);
  if (database?.dialect === 'postgres' && vars.QUEUECTL_TOKEN === undefined && !problems.some((p) => p.includes('QUEUECTL_TOKEN'))) {
    // Replicas share no home directory where a generated token could be found.
    problems.push('QUEUECTL_TOKEN or QUEUECTL_TOKEN_FILE is required with a PostgreSQL QUEUECTL_DATABASE_URL');
  }
  if (problems.length > 0) throw new EnvError(problems);
  const home = resolve(vars.QUEUECTL_HOME ?? join(homedir(), '.queuectl'));
  const target = database!;
  return {
    home,
    database: target.dialect === 'sqlite' ? { dialect: 'sqlite', path: resolve(home, target.path) } : target,
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
    trustProxy: vars.QUEUECTL_TRUST_PROXY === undefined ? false : /^\d+$/.test(vars.QUEUECTL_TRUST_PROXY) ? Number(vars.QUEUECTL_TRUST_PROXY) : vars.QUEUECTL_TRUST_PROXY,
    sqliteSync: vars.QUEUECTL_SQLITE_SYNC === 'normal' ? 'normal' : 'full',
  };
}


/** The database a valid QUEUECTL_DATABASE_URL names (a SQLite path still relative to the home). */
function databaseTarget(raw: string | undefined, problems: string[]): DatabaseTarget | undefined {
  if (raw === undefined) return { dialect: 'sqlite', path: 'queue.db' };
  if (raw.startsWith('sqlite:')) return { dialect: 'sqlite', path: raw.slice('sqlite:'.length) };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push('QUEUECTL_DATABASE_URL is not a valid URL (the password is not shown)');
    return undefined;
  }
  const schema = url.searchParams.get('schema') ?? undefined;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    problems.push(`QUEUECTL_DATABASE_URL's schema must be a lower-case SQL name (got "${schema.slice(0, 80)}")`);
    return undefined;
  }
  const prepared = url.searchParams.get('prepared_statements') ?? 'true';
  if (prepared !== 'true' && prepared !== 'false') {
    problems.push(`QUEUECTL_DATABASE_URL's prepared_statements must be true or false (got "${prepared.slice(0, 80)}")`);
    return undefined;
  }
  url.searchParams.delete('schema');
  url.searchParams.delete('prepared_statements');
  return { dialect: 'postgres', url: url.toString(), schema, prepared: prepared === 'true' };
}

/**
 * QUEUECTL_DATABASE_PASSWORD_FILE (a Compose or Kubernetes secret, the file PostgreSQL's own image
 * reads with POSTGRES_PASSWORD_FILE) puts its password into the PostgreSQL URL.
 */
function withPasswordFile(target: DatabaseTarget | undefined, file: string | undefined, problems: string[]): DatabaseTarget | undefined {
  if (file === undefined || target === undefined) return target;
  if (target.dialect !== 'postgres') {
    problems.push('QUEUECTL_DATABASE_PASSWORD_FILE is for a PostgreSQL QUEUECTL_DATABASE_URL');
    return target;
  }
  const url = new URL(target.url);
  if (url.password !== '') {
    problems.push('QUEUECTL_DATABASE_URL holds a password already: drop it or QUEUECTL_DATABASE_PASSWORD_FILE');
    return target;
  }
  try {
    url.password = encodeURIComponent(readFileSync(file, 'utf8').replace(/\r?\n$/, ''));
  } catch (e) {
    problems.push(`QUEUECTL_DATABASE_PASSWORD_FILE cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (got "${file}")`);
    return target;
  }
  return { ...target, url: url.toString() };
}
