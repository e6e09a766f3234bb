import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ValidatorOptions, getMetadataStorage } from 'class-validator';
import { closest, distance } from 'fastest-levenshtein';
import { InvalidInput, PayloadTooLarge } from './domain-errors';
import { ValidityCheck } from './validity-check';

/** ` (did you mean "x"?)` when an unknown field is a near miss of a known one, else nothing. */
function didYouMean(e: ValidationError): string {
  const known = e.target ? Object.keys(getMetadataStorage().groupByPropertyName(getMetadataStorage().getTargetValidationMetadatas(e.target.constructor, '', false, false, undefined))) : [];
  if (known.length === 0) return '';
  const given = e.property.toLowerCase().replace(/-/g, '_');
  // A swapped word order (retries_max) or a typo of a letter or two (max_retires).
  const words = (name: string) => name.split('_').sort().join('_');
  const match = known.find((k) => words(k) === words(given)) ?? closest(given, known);
  return match !== e.property && (words(match) === words(given) || distance(given, match) <= 2) ? ` (did you mean "${match}"?)` : '';
}

function messages(errors: ValidationError[], path = ''): string[] {
  return errors.flatMap((e) => {
    const at = Array.isArray(errors) && /^\d+$/.test(e.property) ? `${path}[${e.property}]` : path ? `${path}.${e.property}` : e.property;
    // class-validator lists a property's failed rules last-written first; the first rule as
    // written (the type check) is the one to report: the others only follow from it.
    const first = Object.values(e.constraints ?? {}).reverse().slice(0, 1);
    const own = first.map((m) =>
      m.startsWith('property ') && m.endsWith(' should not exist') ? `unknown field "${at}"${didYouMean(e)}` : path ? `${at}: ${m}` : m,
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
      const entity = this.validity.vouchedFromPlain(metadata.metatype, value);
      if (entity !== undefined) return entity;
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
    // Each error keeps the object it was found in, so an unknown field can be compared with the
    // fields of that object's class (didYouMean); the envelope carries only the messages.
    validationError: { target: true },
    exceptionFactory: (errors) => {
      const all = messages(errors);
      const first = all[0] ?? 'invalid input';
      return new InvalidInput(all.length > 1 ? `${first} (and ${all.length - 1} more: see details)` : first, all);
    },
  });
}
