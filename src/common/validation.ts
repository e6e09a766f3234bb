import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ValidatorOptions } from 'class-validator';
import { InvalidInput, PayloadTooLarge } from './domain-errors';
import { ValidityCheck } from './validity-check';

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

/**
 * The strict pipe. A plain JSON body of a DTO that ValidityCheck knows is built and checked by it
 * alone; anything else (and anything it cannot vouch for) takes Nest's own path through
 * class-transformer and class-validator, which also words every error.
 */
class StrictValidationPipe extends ValidationPipe {
  private readonly validity = new ValidityCheck();

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.metatype && this.toValidate(metadata)) {
      const oversized = this.validity.oversizedArray(metadata.metatype, value);
      if (oversized) throw new PayloadTooLarge(oversized);
      const entity = this.validity.fromPlain(metadata.metatype, value);
      if (entity !== undefined && this.validity.passes(entity)) return entity;
    }
    return super.transform(value, metadata);
  }

  protected override validate(object: object, options?: ValidatorOptions): Promise<ValidationError[]> | ValidationError[] {
    return this.validity.passes(object) ? [] : super.validate(object, options);
  }
}

/** Strict DTO validation: unknown fields and wrong types are refused with one-line messages. */
export function strictValidationPipe(): ValidationPipe {
  // ValidityCheck answers for exactly these options: no groups, whitelist with forbidNonWhitelisted,
  // forbidUnknownValues, and no transform options for class-transformer.
  return new StrictValidationPipe({
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
