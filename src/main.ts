import { NestExpressApplication } from '@nestjs/platform-express';
import { Server } from 'node:http';
import { createApp } from './app.factory';
import { removeServiceRecord, writeServiceRecord } from './common/service-record';
import { TokenFileRefused, loadOrCreateToken } from './common/token';
import { Env, EnvError, loadEnv } from './env/env';
import { ServiceAlreadyRunning, acquireServiceLock } from './service-lock';
import { WORKERS_STOP_MS, WorkerSupervisor } from './workers/worker-supervisor';
import { dirname } from 'node:path';
import { ensureDirectory } from './common/directories';

/**
 * The service's drain time: once asked to stop, it exits within this whatever its clients hold
 * open. Stopping answers waiting claims and ends output followers at once (each gets a last
 * event), and gives its own workers WORKERS_STOP_MS to finish; a client that keeps a connection
 * busy past that (one that stops reading a stream, say) is cut off by the exit.
 */
export const SERVICE_DRAIN_MS = WORKERS_STOP_MS + 5_000;

export interface ServeOptions {
  port?: number;
  workers?: number;
  /** Print the startup banner (URL, where the token lives). */
  quiet?: boolean;
}

/**
 * Runs the service in this process until SIGINT/SIGTERM or POST /api/shutdown. The first
 * signal closes gracefully; a second one exits at once.
 */
export async function serve(options: ServeOptions = {}): Promise<void> {
  let env: Env;
  try {
    env = loadEnv();
  } catch (e) {
    if (e instanceof EnvError) {
      for (const p of e.problems) process.stderr.write(`queuectl: ${p}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (options.port !== undefined) env = { ...env, port: options.port, portExplicit: true };

  // The lock keeps two services off one SQLite file. On PostgreSQL several replicas share the
  // database by design, and the home holds nothing they share.
  let releaseLock: () => void = () => undefined;
  try {
    if (env.database.dialect === 'sqlite') releaseLock = await acquireServiceLock(loadHome(env));
    else loadHome(env);
  } catch (e) {
    if (e instanceof ServiceAlreadyRunning) {
      process.stderr.write(`queuectl: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }

  let token: string;
  try {
    token = env.token ?? loadOrCreateToken(env.home);
  } catch (e) {
    process.stderr.write(`queuectl: could not start the service: ${e instanceof TokenFileRefused ? e.message : (e as Error).message.split('\n')[0]}\n`);
    releaseLock();
    process.exit(2);
  }
  let stopping: Promise<void> | undefined;
  let app: NestExpressApplication | undefined;
  const stop = (code = 0) => {
    stopping ??= (async () => {
      const deadline = setTimeout(() => {
        process.stderr.write(`queuectl: still stopping after ${SERVICE_DRAIN_MS / 1000} s; exiting now\n`);
        removeServiceRecord(env.home, process.pid);
        releaseLock();
        process.exit(code);
      }, SERVICE_DRAIN_MS);
      deadline.unref();
      try {
        await app?.close();
      } catch (e) {
        process.stderr.write(`queuectl: error while stopping: ${(e as Error).message}\n`);
      }
      removeServiceRecord(env.home, process.pid);
      releaseLock();
      process.exit(code);
    })();
    return stopping;
  };
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    if (signals > 1) {
      removeServiceRecord(env.home, process.pid);
      releaseLock();
      process.exit(1);
    }
    void stop(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // Made here, so a path that cannot be made is the one line below rather than a logged
    // stack from inside the module that opens the database.
    if (env.database.dialect === 'sqlite') ensureDirectory(dirname(env.database.path));
    app = await createApp({ env, token, onShutdown: () => void stop(0) });
    const server = await listen(app, env);
    // Longer than any client's idle gap (a worker heartbeats every 5 s by default): Node's 5 s
    // default could close a kept-alive socket just as a worker reuses it.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : env.port;
    const url = `http://${env.host.includes(':') ? `[${env.host}]` : env.host}:${port}`;
    writeServiceRecord(env.home, { pid: process.pid, url, host: env.host, port, started_at: new Date().toISOString() });
    if (options.workers) await app.get(WorkerSupervisor).start(options.workers);
    if (!options.quiet) {
      process.stderr.write(`queuectl service listening on ${url} (dashboard ${url}/, API docs ${url}/api/docs)\n`);
      if (!env.token) process.stderr.write(`token: ${env.home}/token\n`);
    }
  } catch (e) {
    process.stderr.write(`queuectl: could not start the service: ${(e as Error).message.split('\n')[0]}\n`);
    removeServiceRecord(env.home, process.pid);
    releaseLock();
    process.exit(1);
  }
}

function loadHome(env: Env): string {
  ensureDirectory(env.home);
  return env.home;
}

/** Listens on the configured port; when that port is taken and was not asked for, on any free one. */
async function listen(app: NestExpressApplication, env: Env): Promise<Server> {
  try {
    await app.listen(env.port, env.host);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || env.portExplicit) throw e;
    await app.listen(0, env.host);
  }
  return app.getHttpServer() as Server;
}

if (require.main === module) {
  void serve({ quiet: process.argv.includes('--quiet') });
}
