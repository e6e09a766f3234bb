import { CommanderError } from 'commander';
import { ApiError, ServiceUnreachable } from './http';
import { TokenFileRefused } from '../src/common/token';

/**
 * The exit codes of `queuectl`, part of its interface contract: scripts branch on them, so they
 * live in one table that `--help` and the README print.
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  unreachable: 5,
  unauthorised: 6,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODE_MEANINGS: Record<ExitCode, string> = {
  0: 'ok',
  1: 'failure',
  2: 'usage error or invalid input',
  3: 'not found',
  4: 'conflict or wrong state (duplicate id, job not in a state that allows it)',
  5: 'service unreachable',
  6: 'not authorised (missing or wrong token)',
};

/** Bad arguments noticed before anything is sent to the service. */
export class UsageError extends Error {}

/** A command that cannot go on, with the exit code that says why. */
export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failure,
  ) {
    super(message);
  }
}

/** The exit code for an HTTP error status of the API. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400 || status === 413 || status === 422) return EXIT.usage;
  if (status === 401 || status === 403) return EXIT.unauthorised;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  return EXIT.failure;
}

export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof CommandFailed) return error.exitCode;
  if (error instanceof ApiError) return exitCodeForStatus(error.status);
  if (error instanceof ServiceUnreachable) return EXIT.unreachable;
  if (error instanceof TokenFileRefused) return EXIT.unauthorised;
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
    // `queuectl help [command]` asked for help (exit 0); a bare `queuectl` shows it as an error.
    if (error.code === 'commander.help') return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return EXIT.usage;
  }
  return EXIT.failure;
}

/** The one line printed for an error: its message, never a stack. */
export function errorLine(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    message = `not authorised: ${message} (check QUEUECTL_TOKEN or --token)`;
  }
  // The API's message names only the first problem; a person at a terminal wants them all.
  const details = error instanceof ApiError ? error.details : undefined;
  if (Array.isArray(details) && details.length > 1 && details.every((d) => typeof d === 'string')) message = details.join('; ');
  const line = message.replace(/^error:\s*/i, '').replace(/\s*\n\s*/g, ' ').trim();
  return line || 'unexpected error';
}

/** The table shown at the end of `queuectl --help`. */
export function exitCodesHelp(): string {
  const rows = Object.entries(EXIT_CODE_MEANINGS).map(([code, meaning]) => `  ${code}  ${meaning}`);
  return ['', 'Exit codes:', ...rows].join('\n');
}
