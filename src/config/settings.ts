/**
 * Runtime settings: their keys, defaults and per-key validation. Keys are written with dashes;
 * the underscore spelling is accepted and normalised.
 */
export interface Settings {
  'max-retries': number;
  'backoff-base': number;
  'backoff-max': number;
  'backoff-jitter': number;
  'job-timeout': number;
  'lease-timeout': number;
  'heartbeat-interval': number;
  'retention-seconds': number;
  'output-limit': number;
}
export type SettingKey = keyof Settings;

interface Definition {
  default: number;
  min: number;
  max: number;
  integer: boolean;
  help: string;
}

const DAY = 86400;

export const SETTINGS: Record<SettingKey, Definition> = {
  'max-retries': { default: 3, min: 0, max: 1000, integer: true, help: 'retries after the first attempt, copied into each new job' },
  'backoff-base': { default: 2, min: 1, max: 100, integer: false, help: 'a failed attempt n waits base^n seconds' },
  'backoff-max': { default: 3600, min: 1, max: 30 * DAY, integer: true, help: 'cap on the retry delay, seconds' },
  'backoff-jitter': { default: 0, min: 0, max: 1, integer: false, help: 'spread each retry delay by up to this fraction of itself' },
  'job-timeout': { default: 0, min: 0, max: 30 * DAY, integer: true, help: 'seconds a command may run, 0 = no limit; a job’s timeout_seconds wins' },
  // Recovery after a SIGKILLed worker takes at most lease-timeout + the reaper's sweep interval
  // (heartbeat-interval): 30 + 5 = 35 s at the defaults, under the 60 s the spec promises.
  'lease-timeout': { default: 30, min: 1, max: DAY, integer: false, help: 'seconds without a heartbeat before a running job is recovered' },
  'heartbeat-interval': { default: 5, min: 0.1, max: DAY / 2, integer: false, help: 'seconds between worker heartbeats (lease-timeout ≥ 2 × this)' },
  'retention-seconds': { default: 7 * DAY, min: 0, max: 3650 * DAY, integer: true, help: 'completed and dead jobs older than this are pruned, 0 = keep forever' },
  'output-limit': { default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024, integer: true, help: 'bytes of output kept per attempt; the rest is cut with a mark' },
};

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export function normaliseKey(key: string): SettingKey | undefined {
  const k = key.trim().toLowerCase().replace(/_/g, '-');
  if ((SETTING_KEYS as string[]).includes(k)) return k as SettingKey;
  // The same words in another order (`base_backoff`, as other queuectl tools spell it) name one key.
  const reordered = SETTING_KEYS.filter((s) => wordsOf(s).sort().join(' ') === wordsOf(key).sort().join(' '));
  return reordered.length === 1 ? reordered[0] : undefined;
}

/** Keys sharing a word with an unknown one (`retries` → max-retries), for a "did you mean". */
export function similarKeys(key: string): SettingKey[] {
  const asked = new Set(wordsOf(key));
  return SETTING_KEYS.filter((s) => wordsOf(s).some((w) => asked.has(w)));
}

function wordsOf(key: string): string[] {
  return key.trim().toLowerCase().split(/[-_]+/).filter(Boolean);
}

export function defaultSettings(): Settings {
  return Object.fromEntries(SETTING_KEYS.map((k) => [k, SETTINGS[k].default])) as unknown as Settings;
}

/** Parses a value for a key; returns the number or a one-line reason it was refused. */
export function parseSetting(key: SettingKey, raw: unknown): number | string {
  const def = SETTINGS[key];
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
  if (text === undefined || text === '' || !/^-?\d+(\.\d+)?$/.test(text)) {
    return `${key} must be ${def.integer ? 'an integer' : 'a number'} from ${def.min} to ${def.max}`;
  }
  const n = Number(text);
  if ((def.integer && !Number.isInteger(n)) || n < def.min || n > def.max) {
    return `${key} must be ${def.integer ? 'an integer' : 'a number'} from ${def.min} to ${def.max} (got ${text})`;
  }
  return n;
}

/** Rules that span keys; returns a reason or undefined. */
export function checkSettings(s: Settings): string | undefined {
  if (s['lease-timeout'] < 2 * s['heartbeat-interval']) {
    return `lease-timeout (${s['lease-timeout']}) must be at least 2 × heartbeat-interval (${s['heartbeat-interval']})`;
  }
  return undefined;
}
