import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PORT, EnvError, loadEnv } from './env';

describe('loadEnv', () => {
  const problemsOf = (source: Record<string, string>): string[] => {
    try {
      loadEnv(source);
    } catch (e) {
      if (e instanceof EnvError) return e.problems;
      throw e;
    }
    throw new Error('expected the environment to be refused');
  };

  it('defaults to ~/.queuectl, 127.0.0.1 and the default port', () => {
    const env = loadEnv({ HOME: '/ignored', PATH: '/bin' });
    expect(env).toMatchObject({
      home: join(homedir(), '.queuectl'),
      database: { dialect: 'sqlite', path: join(homedir(), '.queuectl', 'queue.db') },
      host: '127.0.0.1',
      port: DEFAULT_PORT,
      portExplicit: false,
      token: undefined,
      sqliteSync: 'full',
    });
  });

  it('reads every variable, and a relative database path lives in the home', () => {
    const env = loadEnv({
      QUEUECTL_HOME: '/srv/q',
      QUEUECTL_DATABASE_URL: 'sqlite:data/jobs.db',
      QUEUECTL_HOST: '0.0.0.0',
      QUEUECTL_PORT: '8080',
      QUEUECTL_TOKEN: 'a-token-of-enough-length',
      QUEUECTL_BODY_LIMIT: '4096',
      QUEUECTL_SQLITE_SYNC: 'normal',
      QUEUECTL_ALLOWED_HOSTS: 'queue.example, 10.0.0.5,::1,',
      QUEUECTL_LOGIN_FAILURES: '50',
      QUEUECTL_TRUST_PROXY: '1',
    });
    expect(env).toEqual({
      home: '/srv/q',
      database: { dialect: 'sqlite', path: '/srv/q/data/jobs.db' },
      host: '0.0.0.0',
      port: 8080,
      portExplicit: true,
      token: 'a-token-of-enough-length',
      bodyLimitBytes: 4096,
      sqliteSync: 'normal',
      allowedHosts: ['queue.example', '10.0.0.5', '::1'],
      loginFailuresPerMinute: 50,
      trustProxy: 1,
    });
    expect(loadEnv({ QUEUECTL_TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(loadEnv({}).trustProxy).toBe(false);
    expect(() => loadEnv({ QUEUECTL_TRUST_PROXY: 'all; the world' })).toThrow(/QUEUECTL_TRUST_PROXY must be/);
  });

  it('treats a blank variable as unset', () => {
    expect(loadEnv({ QUEUECTL_PORT: '  ', QUEUECTL_TOKEN: '' })).toMatchObject({ port: DEFAULT_PORT, token: undefined });
  });

  it('reports every bad variable at once, one line each, naming it', () => {
    const problems = problemsOf({
      QUEUECTL_DATABASE_URL: 'mysql://db/queue',
      QUEUECTL_HOST: 'bad host!',
      QUEUECTL_PORT: '70000',
      QUEUECTL_TOKEN: 'short',
      QUEUECTL_BODY_LIMIT: '12kb',
      QUEUECTL_SQLITE_SYNC: 'off',
      QUEUECTL_ALLOWED_HOSTS: 'good.example, bad host/',
    });
    expect(problems).toHaveLength(7);
    for (const name of ['QUEUECTL_DATABASE_URL', 'QUEUECTL_HOST', 'QUEUECTL_PORT', 'QUEUECTL_TOKEN', 'QUEUECTL_BODY_LIMIT', 'QUEUECTL_SQLITE_SYNC', 'QUEUECTL_ALLOWED_HOSTS']) {
      expect(problems.filter((p) => p.includes(name))).toHaveLength(1);
    }
    for (const p of problems) expect(p).not.toMatch(/\n/);
    // The value is shown back so the user sees the typo (the token excepted, below).
    expect(problems.find((p) => p.includes('QUEUECTL_PORT'))).toContain('70000');
  });

  it.each([['abc'], ['80.5'], ['-1']])('refuses QUEUECTL_PORT=%s', (port) => {
    expect(problemsOf({ QUEUECTL_PORT: port })).toEqual([expect.stringContaining('QUEUECTL_PORT')]);
  });

  it('refuses a token with a blank, which no Authorization header could carry', () => {
    const problems = problemsOf({ QUEUECTL_TOKEN: 'correct horse battery staple' });
    expect(problems).toEqual(['QUEUECTL_TOKEN must not contain spaces']);
  });

  it('never echoes the token, in a problem or in the error message', () => {
    const secret = 'hunter2-secret';
    let error: unknown;
    try {
      loadEnv({ QUEUECTL_TOKEN: secret, QUEUECTL_PORT: 'x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    const { problems, message } = error as EnvError;
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).not.toContain(secret);
    expect(message).not.toContain(secret);
    expect(problems.join('\n')).toContain('QUEUECTL_TOKEN');
  });

  describe('PostgreSQL', () => {
    const token = 'a-token-of-enough-length';

    it('selects PostgreSQL from a postgres:// URL, the schema parameter apart', () => {
      const env = loadEnv({ QUEUECTL_DATABASE_URL: 'postgres://queue@db.internal:5433/jobs?schema=queue_a&sslmode=disable', QUEUECTL_TOKEN: token });
      expect(env.database).toEqual({ dialect: 'postgres', url: 'postgres://queue@db.internal:5433/jobs?sslmode=disable', schema: 'queue_a', prepared: true });
      expect(loadEnv({ QUEUECTL_DATABASE_URL: 'postgresql://db/jobs', QUEUECTL_TOKEN: token }).database).toEqual({
        dialect: 'postgres',
        url: 'postgresql://db/jobs',
        schema: undefined,
        prepared: true,
      });
    });

    it('turns named statements off with prepared_statements=false (for a pooler that does not carry them), and nothing else', () => {
      expect(loadEnv({ QUEUECTL_DATABASE_URL: 'postgres://pgbouncer:6432/jobs?prepared_statements=false&schema=q', QUEUECTL_TOKEN: token }).database).toEqual({
        dialect: 'postgres',
        url: 'postgres://pgbouncer:6432/jobs',
        schema: 'q',
        prepared: false,
      });
      expect(problemsOf({ QUEUECTL_DATABASE_URL: 'postgres://db/jobs?prepared_statements=no', QUEUECTL_TOKEN: token })).toEqual([
        `QUEUECTL_DATABASE_URL's prepared_statements must be true or false (got "no")`,
      ]);
    });

    it('requires a token, given or in a file', () => {
      expect(problemsOf({ QUEUECTL_DATABASE_URL: 'postgres://db/jobs' })).toEqual([
        'QUEUECTL_TOKEN or QUEUECTL_TOKEN_FILE is required with a PostgreSQL QUEUECTL_DATABASE_URL',
      ]);
      const dir = mkdtempSync(join(tmpdir(), 'queuectl-env-'));
      try {
        writeFileSync(join(dir, 'token'), `${token}\n`);
        expect(loadEnv({ QUEUECTL_DATABASE_URL: 'postgres://db/jobs', QUEUECTL_TOKEN_FILE: join(dir, 'token') }).token).toBe(token);
        expect(problemsOf({ QUEUECTL_DATABASE_URL: 'postgres://db/jobs', QUEUECTL_TOKEN_FILE: join(dir, 'missing') })).toEqual([
          `QUEUECTL_TOKEN_FILE cannot be read: ENOENT (got "${join(dir, 'missing')}")`,
        ]);
        writeFileSync(join(dir, 'short'), 'short');
        expect(problemsOf({ QUEUECTL_TOKEN_FILE: join(dir, 'short') })).toEqual(['QUEUECTL_TOKEN must be at least 16 characters']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('puts the password of QUEUECTL_DATABASE_PASSWORD_FILE (a secret shared with PostgreSQL) into the URL', () => {
      const dir = mkdtempSync(join(tmpdir(), 'queuectl-env-'));
      try {
        writeFileSync(join(dir, 'password'), 'p@ss:w/rd\n');
        const env = loadEnv({ QUEUECTL_DATABASE_URL: 'postgres://queuectl@postgres:5432/queuectl', QUEUECTL_DATABASE_PASSWORD_FILE: join(dir, 'password'), QUEUECTL_TOKEN: token });
        expect(env.database).toEqual({ dialect: 'postgres', url: 'postgres://queuectl:p%40ss%3Aw%2Frd@postgres:5432/queuectl', schema: undefined, prepared: true });
        expect(decodeURIComponent(new URL((env.database as { url: string }).url).password)).toBe('p@ss:w/rd');
        expect(problemsOf({ QUEUECTL_DATABASE_URL: 'postgres://q:given@db/jobs', QUEUECTL_DATABASE_PASSWORD_FILE: join(dir, 'password'), QUEUECTL_TOKEN: token })).toEqual([
          'QUEUECTL_DATABASE_URL holds a password already: drop it or QUEUECTL_DATABASE_PASSWORD_FILE',
        ]);
        expect(problemsOf({ QUEUECTL_DATABASE_URL: 'postgres://q@db/jobs', QUEUECTL_DATABASE_PASSWORD_FILE: join(dir, 'missing'), QUEUECTL_TOKEN: token })).toEqual([
          `QUEUECTL_DATABASE_PASSWORD_FILE cannot be read: ENOENT (got "${join(dir, 'missing')}")`,
        ]);
        expect(problemsOf({ QUEUECTL_DATABASE_PASSWORD_FILE: join(dir, 'password') })).toEqual(['QUEUECTL_DATABASE_PASSWORD_FILE is for a PostgreSQL QUEUECTL_DATABASE_URL']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses a schema that is not a plain SQL name', () => {
      expect(problemsOf({ QUEUECTL_DATABASE_URL: 'postgres://db/jobs?schema=a;drop', QUEUECTL_TOKEN: token })).toEqual([
        `QUEUECTL_DATABASE_URL's schema must be a lower-case SQL name (got "a;drop")`,
      ]);
    });
  });
});
