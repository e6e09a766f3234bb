#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerConfigCommands } from './commands/config.command';
import { registerDlqCommands } from './commands/dlq.command';
import { registerEnqueueCommands } from './commands/enqueue.command';
import { registerJobCommands } from './commands/jobs.command';
import { registerLogsCommands } from './commands/logs.command';
import { registerMetricsCommands } from './commands/metrics.command';
import { registerServerCommands } from './commands/server.command';
import { registerScheduleCommands } from './commands/schedule.command';
import { registerStatusCommands } from './commands/status.command';
import { registerWaitCommands } from './commands/wait.command';
import { registerWorkerCommands } from './commands/worker.command';
import { registerQueueCommands } from './commands/queue.command';
import { CliContext, GlobalOptions } from './context';
import { argumentNotUtf8 } from './argv-encoding';
import { EXIT, errorLine, exitCodeFor, exitCodesHelp } from './exit-codes';
import { addUsageHint, commandHint } from './usage-hints';

/** Adds one group of commands (a cli/commands/<group>.command.ts) to the program. */
export type CommandGroup = (program: Command, ctx: CliContext) => void;

// Adding a group of commands is one line here.
const GROUPS: CommandGroup[] = [
  registerEnqueueCommands,
  registerJobCommands,
  registerStatusCommands,
  registerDlqCommands,
  registerConfigCommands,
  registerServerCommands,
  registerWorkerCommands,
  registerLogsCommands,
  registerWaitCommands,
  registerMetricsCommands,
  registerQueueCommands,
  registerScheduleCommands,
];

const ENVIRONMENT_HELP = `
Environment:
  QUEUECTL_HOME   data directory of the local service (default ~/.queuectl); each home is its own queue
  QUEUECTL_URL    URL of a remote service (instead of the local one)
  QUEUECTL_TOKEN  API token for QUEUECTL_URL (the local token is read from QUEUECTL_HOME)`;

export function buildProgram(groups: CommandGroup[] = GROUPS): Command {
  const program = new Command('queuectl')
    .description('Run shell commands as background jobs, reliably: retries with backoff, a dead letter queue, priorities, scheduling.')
    .version(packageVersion(), '-V, --version')
    .option('--url <url>', 'service URL (default: QUEUECTL_URL, else the local service of QUEUECTL_HOME, started when needed)')
    .option('--token <token>', 'API token (default: QUEUECTL_TOKEN, else the local token file)')
    // Throw instead of exiting, so every usage error leaves through the one exit-code table.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`queuectl: ${errorLine(text)}\n`) })
    .showSuggestionAfterError()
    .addHelpText('after', `${ENVIRONMENT_HELP}\n${exitCodesHelp()}`);
  addUsageHint(program, commandHint);
  const ctx = new CliContext(() => program.opts<GlobalOptions>());
  for (const register of groups) register(program, ctx);
  return program;
}

/** Runs one command line; resolves with the exit code instead of exiting (tests and `serve` rely on it). */
export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    // Commander has already printed its own (one-line) message.
    if (!(e instanceof CommanderError)) process.stderr.write(`queuectl: ${errorLine(e)}\n`);
    return exitCodeFor(e);
  }
}

function packageVersion(): string {
  // dist/cli/main.js and cli/main.ts sit at different depths below package.json.
  for (const up of ['..', join('..', '..')]) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'queuectl' && pkg.version) return pkg.version;
    } catch {
      /* not at this depth */
    }
  }
  return '0.0.0';
}

if (require.main === module) {
  const crash = (e: unknown) => {
    process.stderr.write(`queuectl: ${errorLine(e)}\n`);
    process.exit(EXIT.failure);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  // `queuectl list | head` closes the pipe early: that is the reader's choice, not a failure.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.ok);
    crash(e);
  });
  const notUtf8 = argumentNotUtf8();
  if (notUtf8) {
    process.stderr.write(`queuectl: ${notUtf8}\n`);
    process.exitCode = EXIT.usage;
  } else {
    void main().then((code) => {
      process.exitCode = code;
    });
  }
}
