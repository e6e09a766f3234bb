import { Command } from 'commander';

/**
 * Hints for usage errors, for people arriving with the spellings of other queuectl tools.
 * Commander already suggests a close command or option name; these name what a near spelling
 * cannot: where a thing lives in this CLI.
 */

/** Adds `hint(message)`, when it has one, in brackets to commander's usage errors of `command`. */
export function addUsageHint(command: Command, hint: (message: string) => string | undefined): Command {
  const inherited = command.configureOutput();
  return command.configureOutput({
    ...inherited,
    outputError: (text, write) => {
      const extra = hint(text);
      const hinted = extra ? `${text.trimEnd()} (${extra})\n` : text;
      if (inherited.outputError) inherited.outputError(hinted, write);
      else write(hinted);
    },
  });
}

/** The option or command an "unknown option/command" error names, else undefined. */
export function unknownName(message: string, kind: 'option' | 'command'): string | undefined {
  return new RegExp(`unknown ${kind} '([^']*)'`).exec(message)?.[1];
}

const DASHBOARD = 'the dashboard is served by the service at /: run queuectl serve --port 8000 and open http://127.0.0.1:8000/';

/** Commands of other tools, and where the same thing is here. */
const COMMANDS: Record<string, string> = {
  dashboard: DASHBOARD,
  ui: DASHBOARD,
  web: DASHBOARD,
  add: 'to add a job use queuectl run -- <command…>, or queuectl enqueue \'<json>\'',
  submit: 'to add a job use queuectl run -- <command…>, or queuectl enqueue \'<json>\'',
};

export function commandHint(message: string): string | undefined {
  const name = unknownName(message, 'command');
  return name === undefined ? undefined : COMMANDS[name.toLowerCase()];
}

/** `run`'s options and the JSON fields `enqueue` takes for them. */
const RUN_OPTION_FIELDS: Record<string, string> = {
  '--id': 'id',
  '--retries': 'max_retries',
  '--max-retries': 'max_retries',
  '--priority': 'priority',
  '--at': 'run_at',
  '--timeout': 'timeout_seconds',
  '--delay': 'run_at',
};

export function enqueueHint(message: string): string | undefined {
  const option = unknownName(message, 'option');
  if (option === undefined) return undefined;
  const field = RUN_OPTION_FIELDS[option];
  if (field === undefined) return 'enqueue takes the whole job as JSON; for a plain command use queuectl run [options] -- <command…>';
  return `did you mean queuectl run ${option} <value> -- <command…>? enqueue takes it as the JSON field "${field}": queuectl enqueue '{"command":"…","${field}":…}'`;
}

export function workerStartHint(message: string): string | undefined {
  if (unknownName(message, 'option') !== '--timeout') return undefined;
  return "did you mean --idle-timeout (stop when idle)? a job's time limit is queuectl run --timeout 5s, or queuectl config set job-timeout 5 for every job";
}
