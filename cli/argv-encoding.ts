import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';

/**
 * Node decodes its arguments as UTF-8 and turns bytes that are not UTF-8 into U+FFFD, so a
 * command typed in another encoding would be stored changed, silently. The raw bytes are in
 * /proc/self/cmdline on Linux; elsewhere an argument holding U+FFFD is taken as one that was
 * replaced. Returns the one-line refusal, or undefined when every argument is UTF-8.
 */
export function argumentNotUtf8(argv: string[] = process.argv, cmdline: Buffer | undefined = readCmdline()): string | undefined {
  const args = argv.slice(2);
  const replaced = cmdline ? cmdline.toString('binary').split('\0').some((arg) => !isUtf8(Buffer.from(arg, 'binary'))) : args.some((a) => a.includes('\uFFFD'));
  if (!replaced) return undefined;
  const index = args.findIndex((a) => a.includes('\uFFFD'));
  const which = index >= 0 ? `argument ${index + 1} (${JSON.stringify(args[index].slice(0, 60))})` : 'an argument';
  return `${which} holds bytes that are not UTF-8: commands and every other argument must be UTF-8 (convert with iconv, or write the bytes with printf escapes inside the command)`;
}

function readCmdline(): Buffer | undefined {
  try {
    return readFileSync('/proc/self/cmdline');
  } catch {
    return undefined;
  }
}
