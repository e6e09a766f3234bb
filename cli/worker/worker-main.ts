import { hostname } from 'node:os';
import type { SupervisedWorkerConfig } from '../../src/workers/worker-supervisor';
import { Endpoint } from '../http';
import { commandEnvironment, localEndpoint } from '../locate';
import { CommandRunner } from './command-runner';
import { HttpWorkerApi } from './http-worker-api';
import { OrphanGuard } from './orphan-guard';
import { WorkerLoop } from './worker-loop';

export interface WorkerProgramOptions {
  endpoint: Endpoint;
  /** Where the service is now, when it can move (a local service restarted on another port). */
  discover: () => Endpoint | undefined;
  concurrency: number;
  idleTimeoutMs: number | null;
  verbose: boolean;
  /** Called with the stop function once the worker runs (the supervised worker stops when its service goes). */
  onStart?: (stop: (why: string) => void) => void;
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} queuectl worker: ${line}\n`);
}

/**
 * The worker program: `queuectl worker start` runs it in its own process, the service's
 * supervisor forks it. SIGINT/SIGTERM drain (finish running jobs, claim nothing more); a second
 * signal kills the running commands, whose jobs are then retried.
 */
export async function runWorker(options: WorkerProgramOptions): Promise<number> {
  const guard = new OrphanGuard(log);
  guard.start();
  const api = new HttpWorkerApi(options.endpoint, options.discover, log);
  // Every command carries the guard's mark, so the guard can find what they left if this process dies.
  const base = commandEnvironment({ QUEUECTL_RUN_MARK: guard.mark });
  const loop = new WorkerLoop(api, new CommandRunner(guard), {
    concurrency: options.concurrency,
    idleTimeoutMs: options.idleTimeoutMs,
    hostname: hostname(),
    pid: process.pid,
    verbose: options.verbose,
    log,
    // Copied once: reading process.env is a call into the runtime per variable.
    environment: (job) => ({ ...base, QUEUECTL_JOB_ID: job.id, QUEUECTL_JOB_ATTEMPT: String(job.attempt), QUEUECTL_JOB_RUN: String(job.lease) }),
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => (++signals === 1 ? loop.stop(`got ${signal}`) : loop.kill(`got ${signal} again`));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  options.onStart?.((why) => loop.stop(why));
  try {
    return await loop.run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    guard.close();
  }
}

/** Forked by the service (src/workers/worker-supervisor.ts): the endpoint comes over IPC, never on argv. */
function runSupervised(): void {
  const i = process.argv.indexOf('--concurrency');
  const concurrency = i >= 0 ? Math.max(1, Number(process.argv[i + 1]) || 1) : 1;
  const timer = setTimeout(() => {
    log('no configuration from the service; exiting');
    process.exit(1);
  }, 30_000);
  process.once('message', (message: SupervisedWorkerConfig) => {
    clearTimeout(timer);
    const target = { home: message.home, token: message.token };
    runWorker({
      endpoint: { url: message.url, token: message.token },
      discover: () => localEndpoint(target),
      concurrency,
      idleTimeoutMs: null,
      verbose: false,
      // The service that started this worker is gone: finish, report (to its successor, if one
      // comes within a lease), and leave rather than run on unsupervised.
      onStart: (stop) => process.once('disconnect', () => stop('the service that started it is gone')),
    }).then(
      (code) => process.exit(code),
      (e) => {
        log(`stopped: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  });
}

if (require.main === module) runSupervised();
