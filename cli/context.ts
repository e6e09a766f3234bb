import { createInterface } from 'node:readline/promises';
import { CommandFailed, EXIT, UsageError } from './exit-codes';
import { Endpoint, RequestOptions, request } from './http';
import { Target, resolveEndpoint, targetFromEnv } from './locate';
import { note } from './render';

/** The program-wide options, given before or after the command name. */
export interface GlobalOptions {
  url?: string;
  token?: string;
}

/**
 * What a command handler needs from the outside world: where the service is, a way to call it,
 * and the terminal. Commands get one per run from cli/main.ts.
 */
export class CliContext {
  private endpointPromise?: Promise<Endpoint>;

  constructor(private readonly globals: () => GlobalOptions) {}

  /** Remote URL and token from --url/--token or the environment, else the local home. */
  target(): Target {
    const { url, token } = this.globals();
    const target = targetFromEnv({ url, token });
    if (target.remoteUrl !== undefined && !/^https?:\/\/[^/\s]+/i.test(target.remoteUrl)) {
      throw new UsageError(`the service URL must start with http:// or https:// (got "${target.remoteUrl}")`);
    }
    return target;
  }

  /**
   * The service to talk to. With `autoStart` (the default) a local service that is not running
   * is started in the background, and the user is told so on stderr.
   */
  endpoint(options: { autoStart?: boolean } = {}): Promise<Endpoint> {
    const autoStart = options.autoStart ?? true;
    if (!autoStart) return this.resolve(false);
    this.endpointPromise ??= this.resolve(true);
    return this.endpointPromise;
  }

  /** One API call on the resolved endpoint. */
  async call<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
    return request<T>(await this.endpoint(), method, path, options);
  }

  /** Asks a yes/no question on the terminal; anything but y/yes is a no. */
  async confirm(question: string): Promise<boolean> {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`${question} [y/N] `);
      return /^\s*y(es)?\s*$/i.test(answer);
    } finally {
      rl.close();
    }
  }

  /** Whether a person is at the terminal (prompts and progress only then). */
  interactive(): boolean {
    return Boolean(process.stdin.isTTY && process.stderr.isTTY);
  }

  private async resolve(autoStart: boolean): Promise<Endpoint> {
    const target = this.target();
    // A remote service always wants a token; saying so here is clearer than its bare 401.
    if (target.remoteUrl && !target.token) {
      throw new CommandFailed(`no token for ${target.remoteUrl}: set QUEUECTL_TOKEN or pass --token`, EXIT.unauthorised);
    }
    return resolveEndpoint(target, {
      autoStart,
      onStart: (logFile) => note(`no service was running for ${target.home}; started one in the background (log: ${logFile})`),
    });
  }
}
