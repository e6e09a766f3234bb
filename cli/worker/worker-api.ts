import type { ClaimedJob } from '../../src/jobs/job-runs.service';
import type { WorkerSettings } from '../../src/workers/workers.service';

/**
 * The worker protocol as the worker loop sees it: a few functions, no HTTP. The shapes are the
 * JSON of /api/workers (see src/workers/workers.controller.ts).
 */

/** Heartbeat interval, lease timeout and output limit: told at registration, again with each heartbeat. */
export type { WorkerSettings };

export interface Registration extends WorkerSettings {
  id: string;
}

/** A job handed to this worker; `lease` is the fencing value every message about the run carries. */
export type { ClaimedJob };

export interface RunRef {
  id: string;
  lease: number;
}

export interface RunResult extends RunRef {
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  /** Output not sent yet (base64 of the bytes), and the byte offset of its first byte in the run's output. */
  output_base64: string;
  output_offset: number;
  truncated: boolean;
}

/** Output bytes (base64) from byte `offset` of the run's output: sent twice, stored once. */
export interface OutputChunk extends RunRef {
  offset: number;
  data_base64: string;
  truncated: boolean;
}

export interface ClaimAnswer {
  jobs: ClaimedJob[];
  stop: boolean;
}

export interface ReportAnswer extends ClaimAnswer {
  /** Runs whose lease was lost: the report changed nothing. */
  refused: string[];
}

export interface HeartbeatAnswer extends WorkerSettings {
  stop: boolean;
  cancel: string[];
  lost: string[];
}

/** How long a call may keep retrying an unreachable service, and a way to stop retrying early. */
export interface CallOptions {
  patienceMs?: number;
  signal?: AbortSignal;
}

export interface WorkerApi {
  register(info: { hostname: string; pid: number; concurrency: number }, options?: CallOptions): Promise<Registration>;
  /** Long-poll: waits up to `waitMs` for a due job. */
  claim(limit: number, waitMs: number, options?: CallOptions): Promise<ClaimAnswer>;
  /** Reports finished runs, hands back unstarted ones, and claims up to `claim` next jobs. */
  report(results: RunResult[], released: RunRef[], claim: number, options?: CallOptions): Promise<ReportAnswer>;
  heartbeat(running: RunRef[], options?: CallOptions): Promise<HeartbeatAnswer>;
  output(chunks: OutputChunk[], options?: CallOptions): Promise<{ refused: string[] }>;
  /** Asks the service to treat this worker as stopping (answers its waiting claim at once). */
  stopping(options?: CallOptions): Promise<void>;
  deregister(options?: CallOptions): Promise<void>;
}
