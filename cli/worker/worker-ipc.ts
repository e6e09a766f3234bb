/**
 * Messages to a worker process forked by `queuectl worker start` (its parent) or by the service's
 * supervisor, over the IPC channel of fork(). The token travels here, never on argv.
 */
export interface ConnectMessage {
  type: 'connect';
  url: string;
  token: string;
  /** The local home, to find the service again if it restarts elsewhere; absent for a remote one. */
  home?: string;
  concurrency: number;
  idle_timeout_ms: number | null;
  verbose: boolean;
  /** The queues it serves; absent for all. */
  queues?: string[];
  /**
   * Who tells it to stop. `parent`: the `worker start` process, by message; the child shares
   * its terminal's process group and ignores SIGINT/SIGTERM, so Ctrl+C is one stop, not two.
   * `service`: by SIGTERM (it runs in a process group of its own).
   */
  stopped_by: 'parent' | 'service';
}

/** From the parent: drain, or stop now. */
export interface StopMessage {
  type: 'stop' | 'kill';
  why: string;
}

export type WorkerMessage = ConnectMessage | StopMessage;
