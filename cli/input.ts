import { InvalidArgumentError } from 'commander';

/**
 * Parsers for option values, handed to commander so a bad value is a usage error (exit 2)
 * before anything reaches the service. Each returns the typed value or throws a one-line reason.
 */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** "30s", "5m", "2h", "1d", "1w", or a plain number of seconds; returns seconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(text);
  if (!match) throw new InvalidArgumentError('expected a duration such as 30s, 5m, 2h, 1d or a number of seconds.');
  const seconds = Number(match[1]) * UNIT_SECONDS[(match[2] || 's').toLowerCase()];
  if (!Number.isFinite(seconds)) throw new InvalidArgumentError('the duration is too large.');
  return seconds;
}

/** A duration as whole seconds (the API counts in seconds). */
export function parseWholeSeconds(text: string): number {
  return Math.round(parseDuration(text));
}

/** A whole number within bounds; "3", "-2" but not "1.5", "", "3x". */
export function integerParser(min: number, max: number = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text: string) => {
    if (!/^\s*-?\d+\s*$/.test(text)) throw new InvalidArgumentError(`expected a whole number${min === 0 ? ' (0 or more)' : ''}.`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

/**
 * A point in time for `run --at`: any form Date.parse understands ("2030-01-01T09:00:00Z",
 * "2030-01-01 09:00" in local time); returned as ISO-8601 UTC, the API's form.
 */
export function parseTime(text: string): string {
  const ms = Date.parse(text.trim());
  if (text.trim() === '' || !Number.isFinite(ms)) {
    throw new InvalidArgumentError('expected a time such as 2030-01-01T09:00:00Z or "2030-01-01 09:00".');
  }
  return new Date(ms).toISOString();
}

export type JsonObject = Record<string, unknown>;

/**
 * The argument of `enqueue`: one job object, or an array of them for a batch. Returns a reason
 * instead of throwing so the caller can add its hint.
 */
export function parseJobJson(text: string): { jobs: JsonObject[]; batch: boolean } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `the job is not valid JSON (${(e as Error).message.split('\n')[0]})` };
  }
  const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (Array.isArray(value)) {
    if (value.length === 0) return { error: 'the list of jobs is empty' };
    const bad = value.findIndex((v) => !isObject(v));
    if (bad >= 0) return { error: `job ${bad} of the list is not a JSON object` };
    return { jobs: value as JsonObject[], batch: true };
  }
  if (!isObject(value)) return { error: 'the job must be a JSON object such as {"command":"echo hi"}' };
  return { jobs: [value], batch: false };
}

/** The service's rule for queue names (those of job ids), checked here so a typo is a usage error before anything starts. */
const QUEUE_NAME = /^(?!\.+$)[A-Za-z0-9._:-]{1,128}$/;

export function parseQueueName(text: string): string {
  if (!QUEUE_NAME.test(text)) throw new InvalidArgumentError(`${JSON.stringify(text.slice(0, 140))} is not a queue name (1–128 characters of A-Za-z0-9._:-).`);
  return text;
}

/** `emails,reports`: queue names, comma-separated, each once. */
export function parseQueueList(text: string): string[] {
  const names = text.split(',').map((n) => n.trim());
  if (names.length > 100) throw new InvalidArgumentError('at most 100 queues.');
  return [...new Set(names.map(parseQueueName))];
}

/** `--env NAME=VALUE`, repeatable: adds to the variables given before (a later NAME wins). */
export function collectEnv(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected NAME=VALUE, such as --env RAILS_ENV=production.');
  return { ...previous, [text.slice(0, at)]: text.slice(at + 1) };
}

/** `--after ID[,ID…]`, repeatable: the ids a job waits on. */
export function collectIds(text: string, previous: string[] = []): string[] {
  const ids = text.split(',').map((id) => id.trim());
  if (ids.some((id) => id === '')) throw new InvalidArgumentError('expected job ids separated by commas, such as --after build,test.');
  return [...previous, ...ids];
}
