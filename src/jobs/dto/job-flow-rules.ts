import { ValidateBy, ValidationArguments } from 'class-validator';

/** Bounds of a job's `env`, `cwd` and `after` (job flows). */
export const MAX_ENV_VARS = 64;
export const MAX_ENV_NAME = 128;
export const MAX_ENV_VALUE = 16 * 1024;
/** Names and values together, so a job's variables stay well below what execve takes. */
export const MAX_ENV_TOTAL = 64 * 1024;
export const MAX_CWD = 4096;
export const MAX_AFTER = 1000;
/** A POSIX shell variable name: what `export NAME=…` takes. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The worker's own variables (QUEUECTL_JOB_ID, …, and the mark its orphan guard looks for). */
const RESERVED_PREFIX = 'QUEUECTL_';

/** What is wrong with an `env` value, in one line, or undefined when it is good. */
export function envProblem(value: unknown, field = 'env'): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${field} must be an object of NAME: "value" strings`;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_ENV_VARS) return `${field} may hold at most ${MAX_ENV_VARS} variables`;
  let total = 0;
  for (const [name, v] of entries) {
    const shown = JSON.stringify(name.slice(0, 40));
    if (!ENV_NAME_PATTERN.test(name) || name.length > MAX_ENV_NAME) {
      return `${field} name ${shown} is not a variable name: letters, digits and _, not starting with a digit, at most ${MAX_ENV_NAME} characters`;
    }
    if (name.toUpperCase().startsWith(RESERVED_PREFIX)) return `${field} name ${shown} is reserved: the worker sets QUEUECTL_* variables itself`;
    if (typeof v !== 'string') return `${field}.${name} must be a string`;
    if (v.includes('\0')) return `${field}.${name} must not contain a NUL character`;
    if (v.length > MAX_ENV_VALUE) return `${field}.${name} must be at most ${MAX_ENV_VALUE} characters`;
    total += name.length + v.length;
  }
  if (total > MAX_ENV_TOTAL) return `${field} must hold at most ${MAX_ENV_TOTAL} characters of names and values in all`;
  return undefined;
}

/** What is wrong with a `cwd` value, or undefined. */
export function cwdProblem(value: unknown, field = 'cwd'): string | undefined {
  if (typeof value !== 'string') return `${field} must be a string`;
  if (!value.startsWith('/')) return `${field} must be an absolute path (starting with /)`;
  if (value.length > MAX_CWD) return `${field} must be at most ${MAX_CWD} characters`;
  if (value.includes('\0')) return `${field} must not contain a NUL character`;
  return undefined;
}

/** What is wrong with an `after` value, or undefined. */
export function afterProblem(value: unknown, field = 'after'): string | undefined {
  if (!Array.isArray(value)) return `${field} must be an array of job ids`;
  if (value.length > MAX_AFTER) return `${field} must hold at most ${MAX_AFTER} ids`;
  if (!value.every((id) => typeof id === 'string' && JOB_ID.test(id))) return `${field} must hold job ids: 1–128 characters of A-Za-z0-9._:- each`;
  return undefined;
}

/** The job id rule (JOB_ID_PATTERN of the DTO; repeated here, where the DTO imports from). */
const JOB_ID = /^(?!\.+$)[A-Za-z0-9._:-]{1,128}$/;

function rule(name: string, problem: (value: unknown, field: string) => string | undefined) {
  return ValidateBy({
    name,
    validator: {
      validate: (value: unknown, args?: ValidationArguments) => problem(value, args?.property ?? name) === undefined,
      defaultMessage: (args?: ValidationArguments) => problem(args?.value, args?.property ?? name) ?? `${name} is invalid`,
    },
  });
}

export const IsJobEnv = () => rule('env', envProblem);
export const IsJobCwd = () => rule('cwd', cwdProblem);
// One rule for the whole array: the service's fast validity check takes no `each` rules.
export const IsJobIds = () => rule('after', afterProblem);
