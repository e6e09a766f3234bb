import { CallAborted } from './http-worker-api';
import { CallOptions, ClaimAnswer, HeartbeatAnswer, OutputChunk, Registration, ReportAnswer, RunRef, RunResult, WorkerApi } from './worker-api';

/**
 * A worker's API whose claims wait for `ready`: the worker registers (and its loop starts) at
 * once, but takes no job before then. `worker start` holds its own claims until every worker
 * process it forked ignores the terminal's signals. Reports claim too, but only after a job ran,
 * so after a claim.
 */
export class ClaimsAfter implements WorkerApi {
  constructor(
    private readonly api: WorkerApi,
    private readonly ready: Promise<void>,
  ) {}

  register(info: { hostname: string; pid: number; concurrency: number }, options?: CallOptions): Promise<Registration> {
    return this.api.register(info, options);
  }

  async claim(limit: number, waitMs: number, options?: CallOptions): Promise<ClaimAnswer> {
    await this.ready;
    // Stopped while it waited: the claim is not sent at all.
    if (options?.signal?.aborted) throw new CallAborted();
    return this.api.claim(limit, waitMs, options);
  }

  report(results: RunResult[], released: RunRef[], claim: number, options?: CallOptions): Promise<ReportAnswer> {
    return this.api.report(results, released, claim, options);
  }

  heartbeat(running: RunRef[], options?: CallOptions): Promise<HeartbeatAnswer> {
    return this.api.heartbeat(running, options);
  }

  output(chunks: OutputChunk[], options?: CallOptions): Promise<{ refused: string[] }> {
    return this.api.output(chunks, options);
  }

  stopping(options?: CallOptions): Promise<void> {
    return this.api.stopping(options);
  }

  deregister(options?: CallOptions): Promise<void> {
    return this.api.deregister(options);
  }
}
