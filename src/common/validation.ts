import { ValidationError, ValidationPipe } from '@nestjs/common';
import { InvalidInput } from './domain-errors';

function messages(errors: ValidationError[], path = ''): string[] {
  return errors.flatMap((e) => {
    const at = Array.isArray(errors) && /^\d+$/.test(e.property) ? `${path}[${e.property}]` : path ? `${path}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) =>
      m.startsWith('property ') && m.endsWith(' should not exist') ? `unknown field "${at}"` : path ? `${at}: ${m}` : m,
    );
    return [...own, ...messages(e.children ?? [], at)];
  });
}

/** Strict DTO validation: unknown fields and wrong types are refused with one-line messages. */
export function strictValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    exceptionFactory: (errors) => {
      const all = messages(errors);
      const first = all[0] ?? 'invalid input';
      return new InvalidInput(all.length > 1 ? `${first} (and ${all.length - 1} more: see details)` : first, all);
    },
  });
}
