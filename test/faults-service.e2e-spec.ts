import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVICE_DRAIN_MS } from '../src/main';
import { CLI, SERVICE_MAIN, api, cleanEnv, removeHome, runCli, startService, tempHome, waitFor } from './support/harness';
import { killAllWorkers, startWorker } from './support/workers';

/**
 * The service process under faults: killed with SIGKILL and asked for at once by the CLI, and
 * failing at start under the CLI's autostart.
 */
describe('the service process under faults', () => {
  const homes: string[] = [];
  afterAll(() => homes.forEach(removeHome));
  const newHome = () => {
    const home = tempHome('queuectl-fault-service-');
    homes.push(home);
    return home;
  };

  it('kill -9 of the service, then at once `queuectl status`: answered by a new service, even with the old one a zombie', async () => {
    const home = newHome();
    // The service's parent never reaps it, as in a container without an init process: once
    // killed, its pid stays a zombie until the parent exits.
    const parent = spawn('sh', ['-c', `"${process.execPath}" "${SERVICE_MAIN}" >> "${home}/first.log" 2>&1 & echo $! > "${home}/first.pid"; exec sleep 120`], {
      env: cleanEnv({ QUEUECTL_HOME: home, QUEUECTL_PORT: '0' }),
      detached: true,
      stdio: 'ignore',
    });
    try {
      const pid = await waitFor(() => Number(readFileSync(join(home, 'first.pid'), 'utf8').trim()), 15_000, 'the service pid');
      const record = await waitFor(() => {
        const r = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
        return r.pid === pid ? r : undefined;
      }, 20_000, 'the first service to start');
      const token = readFileSync(join(home, 'token'), 'utf8').trim();
      expect((await api({ url: record.url, token }, 'GET', '/api/health')).status).toBe(200);

      process.kill(pid, 'SIGKILL');
      const askedAt = Date.now();
      const status = await runCli(['status', '--json'], home, { QUEUECTL_PORT: '0' });
      const tookMs = Date.now() - askedAt;
      expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/started/) });
      expect(JSON.parse(status.stdout).counts).toBeDefined();
      expect(tookMs).toBeLessThan(15_000);
      // The killed service is still a zombie: its pid alone would have looked alive.
      expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/^\d+ \(.*\) Z /);
      expect(JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')).pid).not.toBe(pid);
    } finally {
      try {
        process.kill(-parent.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      await runCli(['server', 'stop'], home);
    }
  });

  it("a service that cannot start (its address is not this machine's) is reported at once, with the service's own error line", async () => {
    const home = newHome();
    const askedAt = Date.now();
    const status = await runCli(['status'], home, { QUEUECTL_PORT: '0', QUEUECTL_HOST: '192.0.2.1' });
    expect(status.code).toBe(5);
    expect(status.stderr).toMatch(/could not start the service/);
    expect(status.stderr).not.toMatch(/did not start within/);
    // Well under the 20 s start timeout the CLI would otherwise wait out.
    expect(Date.now() - askedAt).toBeLessThan(15_000);
  });

  it('a database directory that cannot be made (under /proc) is one error line and exit 1, not a service spinning forever', async () => {
    const home = newHome();
    const askedAt = Date.now();
    const serve = await runCli(['serve', '--port', '0'], home, { QUEUECTL_DATABASE_URL: 'sqlite:/proc/no-such-dir/queue.db' });
    expect(serve.code).toBe(1);
    expect(serve.stderr.trim()).toMatch(/^queuectl: could not start the service: ENOENT: [^\n]*'\/proc\/no-such-dir'$/);
    expect(Date.now() - askedAt).toBeLessThan(15_000);
  });
});

describe('stopping the service with a follower attached', () => {
  let home: string;
  afterAll(async () => {
    await killAllWorkers();
    removeHome(home);
  });

  it('SIGTERM: the follower gets a last event, its stream closes, and the service exits within its drain time', async () => {
    home = tempHome('queuectl-fault-drain-');
    const svc = await startService(home);
    await api(svc, 'POST', '/api/jobs', { id: 'chatty', command: 'while true; do echo tick; sleep 0.2; done' });
    startWorker(home);
    const follower = spawn(process.execPath, [CLI, 'logs', 'chatty', '--follow'], { env: cleanEnv({ QUEUECTL_HOME: home }) });
    let out = '';
    let err = '';
    follower.stdout.on('data', (c) => (out += c));
    follower.stderr.on('data', (c) => (err += c));
    const followerExit = new Promise<number | null>((r) => follower.once('exit', r));
    await waitFor(() => out.includes('tick'), 20_000, 'the follower to print output');

    const askedAt = Date.now();
    svc.process.kill('SIGTERM');
    const exited = await Promise.race([
      new Promise<boolean>((r) => svc.process.once('exit', () => r(true))),
      sleep(SERVICE_DRAIN_MS + 5000).then(() => false),
    ]);
    expect(exited).toBe(true);
    expect(Date.now() - askedAt).toBeLessThanOrEqual(SERVICE_DRAIN_MS);
    expect(await followerExit).toBe(5);
    expect(err).toMatch(/stopped following job "chatty": the service is stopping/);
    await svc.kill('SIGKILL');
  });
});
