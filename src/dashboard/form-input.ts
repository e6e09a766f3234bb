import { ArgumentMetadata } from '@nestjs/common';
import { strictValidationPipe } from '../common/validation';

/** A form's text fields, trimmed, without the CSRF token; anything that is not text is dropped. */
export function formFields(body: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries((body ?? {}) as Record<string, unknown>)) {
    if (k !== '_csrf' && typeof v === 'string') fields[k] = k === 'command' ? v : v.trim();
  }
  return fields;
}

/**
 * A form as the API would receive it as JSON: empty fields left out, numbers as numbers
 * (anything else stays text, so the API's own validation explains what is wrong with it).
 */
export function asJson(fields: Record<string, string>, numeric: readonly string[], required: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    // A blank required field is kept, so its message says "blank" rather than "missing".
    if (v.trim() === '' && !required.includes(k)) continue;
    out[k] = numeric.includes(k) && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  return out;
}

/** Validates like the API does (same DTO, same pipe, same messages); throws InvalidInput. */
export async function validateAs<T>(metatype: new () => T, value: Record<string, unknown>): Promise<T> {
  const metadata: ArgumentMetadata = { type: 'body', metatype };
  return (await strictValidationPipe().transform(value, metadata)) as T;
}

/** A `next` target after login: only a path of this site, never another origin. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}
