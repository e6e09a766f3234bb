import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ConnectMessage } from '../../cli/worker/worker-ipc';
import { API_TOKEN } from '../common/token.guard';
import { DomainError } from '../common/domain-errors';
import { REPLICA } from '../common/replica';
import { ENV, Env } from '../env/env';


/** How long supervised workers get to finish their jobs when the service stops, before they are told again. */
const DRAIN_MS = 10_000;
/** After the second signal a worker kills its commands and reports; then it is killed outright. */
const FORCE_MS = 5_000;
/** Longest the workers of the service take to stop when it stops (drain, then insist twice). */
export const WORKERS_STOP_MS = DRAIN_MS + 2 * FORCE_MS;

class ServiceNotListening extends DomainError {
  constructor() {
    super('invalid_state', 'the service is not listening yet; start workers once it is');
  }
}

/**
 * Forks worker processes for `serve --workers N`, the dashboard and POST /api/workers. They are
 * ordinary workers (the same program as `queuectl worker start`) that talk to this service over
 * HTTP; the IPC channel only hands them the endpoint and tells them when the service is gone
 * (a disconnect makes them drain). Stopping them is the protocol's business (POST
 * /api/workers/stop), except when the service itself stops: then they are signalled.
 */
@Injectable()
export class WorkerSupervisor implements OnModuleDestroy {
  private readonly logger = new Logger('WorkerSupervisor');
  private readonly children = new Set<ChildProcess>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(ENV) private readonly env: Env,
    @Inject(API_TOKEN) private readonly token: string,
  ) {}

  /** Forks `count` worker processes of this replica; the answer names the replica that took them. */
  async start(count: number): Promise<{ started: number; pids: number[]; replica: string }> {
    const url = this.url();
    const program = workerProgram();
    const pids: number[] = [];
    for (let i = 0; i < count; i++) {
      // detached: Ctrl+C at the terminal of `serve` reaches the service only; the service then
      // signals its workers once, so they drain instead of taking a second signal as "now".
      const child = fork(program, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], detached: true });
      this.children.add(child);
      child.once('exit', (code, signal) => {
        this.children.delete(child);
        if (code !== 0) this.logger.warn(`worker process ${child.pid} exited with ${signal ?? `code ${code}`}`);
      });
      child.on('error', (e) => this.logger.warn(`worker process: ${e.message}`));
      const connect: ConnectMessage = {
        type: 'connect',
        url,
        token: this.token,
        home: this.env.home,
        concurrency: 1,
        idle_timeout_ms: null,
        verbose: false,
        stopped_by: 'service',
      };
      child.send(connect);
      pids.push(child.pid!);
    }
    return { started: pids.length, pids, replica: REPLICA };
  }

  running(): number {
    return this.children.size;
  }

  /** The service is stopping: let the workers finish (they still reach it), then insist. */
  async onModuleDestroy(): Promise<void> {
    if (this.children.size === 0) return;
    const all = [...this.children];
    for (const c of all) c.kill('SIGTERM');
    if (await this.allExited(all, DRAIN_MS)) return;
    for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    if (await this.allExited(all, FORCE_MS)) return;
    for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await this.allExited(all, FORCE_MS);
  }

  private allExited(children: ChildProcess[], withinMs: number): Promise<boolean> {
    const pending = children.filter((c) => c.exitCode === null && c.signalCode === null);
    if (pending.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), withinMs);
      let left = pending.length;
      for (const c of pending) {
        c.once('exit', () => {
          if (--left === 0) {
            clearTimeout(timer);
            resolve(true);
          }
        });
      }
    });
  }

  private url(): string {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as { address(): AddressInfo | string | null } | undefined;
    const address = server?.address();
    if (!address || typeof address === 'string') throw new ServiceNotListening();
    const wildcard = address.address === '0.0.0.0' || address.address === '::';
    const host = wildcard ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }
}

/** The built worker program; tests that run the service from TypeScript sources use the build too. */
function workerProgram(): string {
  const beside = join(__dirname, '..', '..', 'cli', 'worker', 'worker-main.js');
  if (existsSync(beside)) return beside;
  return join(__dirname, '..', '..', 'dist', 'cli', 'worker', 'worker-main.js');
}
