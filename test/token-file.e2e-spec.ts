import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_MAIN, cleanEnv, removeHome, runCli, startService, tempHome } from './support/harness';

/**
 * The token file is trusted only when nobody else can read it and it is long enough not to be
 * guessed; the files the service creates are its user's alone.
 */

const modeOf = (file: string) => statSync(file).mode & 0o777;

function startServiceSync(home: string) {
  return spawnSync(process.execPath, [SERVICE_MAIN], { env: cleanEnv({ QUEUECTL_HOME: home, QUEUECTL_PORT: '0' }), encoding: 'utf8', timeout: 30_000 });
}

describe('a pre-existing token file', () => {
  let home: string;
  beforeEach(() => {
    home = tempHome();
  });
  afterEach(() => removeHome(home));

  it('of 3 characters with mode 0644 is refused by the service and the CLI, and left as it was', async () => {
    const file = join(home, 'token');
    writeFileSync(file, 'abc\n', { mode: 0o644 });
    chmodSync(file, 0o644);

    const service = startServiceSync(home);
    expect(service.status).toBe(2);
    expect(service.stderr).toBe(`queuectl: could not start the service: token file ${file} is readable by others (mode 0644): run chmod 600 ${file}\n`);
    expect(existsSync(join(home, 'service.json'))).toBe(false);

    const cli = await runCli(['status'], home);
    expect(cli.code).toBe(6);
    expect(cli.stderr).toBe(`queuectl: token file ${file} is readable by others (mode 0644): run chmod 600 ${file}\n`);
    expect(existsSync(join(home, 'service.json'))).toBe(false);

    chmodSync(file, 0o600);
    const short = startServiceSync(home);
    expect(short.status).toBe(2);
    expect(short.stderr).toMatch(/^queuectl: could not start the service: token file \S+ holds 3 characters; a token needs 32 or more without blanks: delete the file to have one generated\n$/);
    const cliShort = await runCli(['list'], home);
    expect(cliShort.code).toBe(6);
    expect(cliShort.stderr).toMatch(/^queuectl: token file \S+ holds 3 characters; a token needs 32 or more/);

    expect(readFileSync(file, 'utf8')).toBe('abc\n');
    expect(existsSync(join(home, 'service.json'))).toBe(false);
  });

  it('that is long enough and private is used as it is', async () => {
    const token = 'a-token-of-forty-characters-0123456789ab';
    writeFileSync(join(home, 'token'), `${token}\n`, { mode: 0o600 });
    const svc = await startService(home);
    try {
      const res = await fetch(`${svc.url}/api/status`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    } finally {
      await svc.stop();
    }
  });
});

describe('files the service creates', () => {
  it('a new home is 0700, its token and database files 0600', async () => {
    const parent = tempHome();
    const home = join(parent, 'new-home');
    const svc = await startService(home);
    try {
      expect(modeOf(home)).toBe(0o700);
      expect(modeOf(join(home, 'token'))).toBe(0o600);
      expect(readFileSync(join(home, 'token'), 'utf8').trim().length).toBeGreaterThanOrEqual(32);
      for (const f of ['queue.db', 'queue.db-wal', 'queue.db-shm']) expect([f, modeOf(join(home, f)).toString(8)]).toEqual([f, '600']);
    } finally {
      await svc.stop();
      removeHome(parent);
    }
  });
});
