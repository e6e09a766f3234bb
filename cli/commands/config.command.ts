import { Command } from 'commander';
import { CliContext } from '../context';
import { fields, render, table } from '../render';

/** `config get|set|list`: the runtime settings kept by the service. */

export interface Setting {
  key: string;
  value: number;
  default: number;
  help: string;
}

export async function listSettings(ctx: CliContext): Promise<Setting[]> {
  return (await ctx.call<{ config: Setting[] }>('GET', '/api/config')).config;
}

export function getSetting(ctx: CliContext, key: string): Promise<{ key: string; value: number }> {
  return ctx.call('GET', `/api/config/${encodeURIComponent(key)}`);
}

/** The value goes as text; the service parses it per key and refuses a bad one. */
export function setSetting(ctx: CliContext, key: string, value: string): Promise<{ key: string; value: number }> {
  return ctx.call('PUT', `/api/config/${encodeURIComponent(key)}`, { body: { value } });
}

function settingsTable(settings: Setting[]): string {
  return table(
    ['key', 'value', 'default', 'meaning'],
    settings.map((s) => [s.key, s.value, s.default, s.help]),
  );
}

export function registerConfigCommands(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('show and change settings (keys with dashes; underscores work too)');

  config
    .command('get')
    .description('print the value of one setting, or every key=value')
    .argument('[key]', 'e.g. max-retries')
    .option('--json', 'print as JSON')
    .action(async (key: string | undefined, options: { json?: boolean }) => {
      if (key === undefined) {
        const all = await listSettings(ctx);
        const values = Object.fromEntries(all.map((s) => [s.key, s.value]));
        render(values, options, () => fields(all.map((s) => [s.key, s.value])));
        return;
      }
      render(await getSetting(ctx, key), options, (s) => String(s.value));
    });

  config
    .command('set')
    .description('change a setting; a bad value is refused and the old one stays')
    .argument('<key>', 'e.g. max-retries')
    .argument('<value>', 'e.g. 5')
    .option('--json', 'print the new {key, value} as JSON')
    .action(async (key: string, value: string, options: { json?: boolean }) =>
      render(await setSetting(ctx, key, value), options, (s) => `${s.key} = ${s.value}`),
    );

  config
    .command('list')
    .alias('show')
    .description('every setting with its value, default and meaning')
    .option('--json', 'print as a JSON array')
    .action(async (options: { json?: boolean }) => render(await listSettings(ctx), options, settingsTable));
}
