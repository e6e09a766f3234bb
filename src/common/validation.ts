import { ValidationError, ValidationPipe } from '@nestjs/common';
import { InvalidInput } from './domain-errors';

function messages(errors: ValidationError[], path = ''): string[] {
  return errors.flatMap((e) => {
    const at = Array.isArray(errors) && /^\d+$/.test(e.property) ? `${path}[${e.property}]` : path ? `${path}.${e.property}` : e.property;
    // class-validator lists a property's failed rules last-written first; the first rule as
    // written (the type check) is the one to report: the others only follow from it.
    const first = Object.values(e.constraints ?? {}).reverse().slice(0, 1);
    const own = first.map((m) =>
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
