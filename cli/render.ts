import type Table from 'cli-table3';
import { escapeControls } from './terminal-text';

/**
 * The one place that prints: data goes to stdout, as JSON for scripts (`--json`, and then
 * nothing else on stdout) or as tables and lines for people; notes go to stderr.
 */
export interface OutputOptions {
  json?: boolean;
}

/**
 * Prints a command's result: the data itself with --json, else what `human` makes of it. On a
 * terminal, control characters in it (from a job's command or error) are shown escaped, so they
 * cannot drive the terminal; piped, the text is passed on as it is.
 */
export function render<T>(data: T, options: OutputOptions, human: (data: T) => string): void {
  if (options.json) {
    printJson(data);
    return;
  }
  const made = human(data);
  const text = process.stdout.isTTY ? escapeControls(made) : made;
  if (text !== '') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}

/**
 * One JSON array built from pages as they arrive, so listing a million jobs needs no more
 * memory than one page. Nothing is written before the first page is in hand: a command that
 * fails at once leaves stdout empty.
 */
export async function printJsonArray<T>(pages: AsyncIterable<T[]>): Promise<void> {
  let count = 0;
  for await (const page of pages) {
    for (const item of page) {
      const text = JSON.stringify(item, null, 2).replace(/^/gm, '  ');
      process.stdout.write(`${count === 0 ? '[\n' : ',\n'}${text}`);
      count += 1;
    }
  }
  process.stdout.write(count === 0 ? '[]\n' : '\n]\n');
}

/** A note for the person at the terminal (started a service, waiting…): stderr, never data. */
export function note(message: string): void {
  process.stderr.write(`queuectl: ${message}\n`);
}

// No borders and no colours: the output reads the same in a terminal, a pipe and a log file.
const PLAIN = {
  chars: {
    top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
    bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
    left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
  },
  style: { 'padding-left': 0, 'padding-right': 0, head: [] as string[], border: [] as string[] },
};

/** Columns aligned for people; `head` is printed in capitals like ps and kubectl do. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  // Loaded when a table is printed: a command that prints none (worker start) starts faster.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const TableClass = require('cli-table3') as typeof Table;
  const t = new TableClass({ ...PLAIN, head: head.map((h) => h.toUpperCase()) });
  for (const row of rows) t.push(row.map((cell) => String(cell)));
  return t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** `label  value` lines with the labels aligned. */
export function fields(pairs: Array<[string, string | number]>): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${value}`.trimEnd()).join('\n');
}

/** A command on one table line: newlines and tabs shown as spaces, cut with an ellipsis. */
export function shorten(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** "12s ago", "in 5m": how far a time is from now, for people. */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const delta = ms - now;
  const text = duration(Math.abs(delta), true);
  if (Math.abs(delta) < 1000) return 'now';
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

/** A local time with its distance from now: "2030-01-01 09:00:00 (in 3d)". */
export function localTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  const local = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${local} (${relativeTime(iso, now)})`;
}

/** 850ms, 12.3s, 4m 05s, 2h 10m, 3d 4h; `coarse` drops the sub-second part. */
export function duration(ms: number | null | undefined, coarse = false): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000 && !coarse) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return coarse ? `${Math.floor(s)}s` : `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
