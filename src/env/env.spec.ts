import { homedir } from 'node:os';
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
      sqlitePath: join(homedir(), '.queuectl', 'queue.db'),
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
    });
    expect(env).toEqual({
      home: '/srv/q',
      sqlitePath: '/srv/q/data/jobs.db',
      host: '0.0.0.0',
      port: 8080,
      portExplicit: true,
      token: 'a-token-of-enough-length',
      bodyLimitBytes: 4096,
      sqliteSync: 'normal',
      allowedHosts: ['queue.example', '10.0.0.5', '::1'],
      loginFailuresPerMinute: 50,
    });
  });

  it('treats a blank variable as unset', () => {
    expect(loadEnv({ QUEUECTL_PORT: '  ', QUEUECTL_TOKEN: '' })).toMatchObject({ port: DEFAULT_PORT, token: undefined });
  });

  it('reports every bad variable at once, one line each, naming it', () => {
    const problems = problemsOf({
      QUEUECTL_DATABASE_URL: 'postgres://db/queue',
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
});
