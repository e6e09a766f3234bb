import { ARRAY_MAX_SIZE, IS_OPTIONAL, MATCHES, MAX_LENGTH, MetadataStorage, NOT_CONTAINS, maxLength, ValidationArguments, ValidationTypes, ValidatorConstraintInterface, getMetadataStorage } from 'class-validator';
import type { MetadataStorage as TransformerStorage } from 'class-transformer/types/MetadataStorage';
import { TransformationType } from 'class-transformer';

// class-transformer keeps its decorator metadata (@Type, @Expose, @Transform…) here; the package
// publishes no type declaration at this path, only at the one imported above.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const transformerStorage = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: TransformerStorage }).defaultMetadataStorage;

type Metadata = ReturnType<MetadataStorage['getTargetValidationMetadatas']>[number];
type Rule = (object: object, value: unknown) => boolean;
type Class = new () => object;

interface PropertyPlan {
  name: string;
  /** @IsOptional: class-validator skips the property when it is null or undefined. */
  optional: boolean;
  /** @ValidateIf: when one of them says no, class-validator skips the property. */
  conditions: Rule[];
  /** Every other rule of the property: @IsDefined, @IsString, @Matches… */
  rules: Rule[];
  /** @ValidateNested: objects inside are checked against their own class. */
  nested: boolean;
  /** @Type(() => …) for a nested array: the class its plain items become. */
  itemClass?: (plain: object, into: object) => unknown;
}

interface ClassPlan {
  /** Properties with any metadata; any other property is refused by forbidNonWhitelisted. */
  known: Map<string, PropertyPlan>;
  properties: PropertyPlan[];
  /** No @Expose, @Exclude or @Transform anywhere: class-transformer copies plain values as they are. */
  copiesPlainValues: boolean;
  /** Every own property a new instance has (its class fields) is known; found when fromPlain first builds one. */
  constructsKnownKeys?: boolean;
}

/**
 * Says, quickly, whether class-validator would find no error in an object, and builds a DTO from
 * a plain JSON value the way class-transformer would. The rules are read from class-validator's
 * own metadata (the DTO's decorators stay the single source of truth) and evaluated by the same
 * validator functions, in a plan made once per class. class-validator itself rebuilds that plan
 * and an error object per property on every call, and class-transformer looks up its metadata
 * for every property of every object: together about 25 µs a job, which a 2,500-job batch pays
 * 2,500 times.
 *
 * Neither answer is ever a guess: `passes` returns false and `fromPlain` undefined for anything
 * they cannot vouch for, and the caller then asks class-transformer and class-validator, which
 * judge and word every error exactly as before. What a plan does not know (async rules, `each`
 * on a rule, validateIf options, promise validation, any class-transformer decorator but @Type
 * on a nested array) makes it step aside for that class.
 */
export class ValidityCheck {
  private readonly plans = new Map<unknown, ClassPlan | null>();
  private readonly storage = getMetadataStorage();
  private readonly arrayLimits = new Map<unknown, Map<string, { max: number; message: string }>>();

  /**
   * The message of the first top-level array of `value` that holds more items than its
   * @ArrayMaxSize allows, or undefined. Asked before anything is built from the body, so an
   * oversized batch costs its length, not a DTO and a validation per item.
   */
  oversizedArray(metatype: unknown, value: unknown): string | undefined {
    if (!isPlainObject(value)) return undefined;
    for (const [name, limit] of this.arrayLimitsOf(metatype)) {
      const items = (value as Record<string, unknown>)[name];
      if (Array.isArray(items) && items.length > limit.max) return `${limit.message} (got ${items.length})`;
    }
    return undefined;
  }

  private arrayLimitsOf(target: unknown): Map<string, { max: number; message: string }> {
    let limits = this.arrayLimits.get(target);
    if (limits === undefined) {
      limits = new Map();
      if (typeof target === 'function') {
        const metadatas = this.storage.getTargetValidationMetadatas(target, undefined as unknown as string, false, false, undefined);
        for (const m of metadatas) {
          if (m.name !== ARRAY_MAX_SIZE || m.each || typeof m.constraints?.[0] !== 'number') continue;
          const max = m.constraints[0] as number;
          const message = typeof m.message === 'string' ? m.message : `${m.propertyName} must hold at most ${max} items`;
          limits.set(m.propertyName, { max, message });
        }
      }
      this.arrayLimits.set(target, limits);
    }
    return limits;
  }

  /** True only if class-validator (whitelist, forbidNonWhitelisted, forbidUnknownValues, no groups) accepts `object`. */
  passes(object: object): boolean {
    return this.check(object, false);
  }

  /**
   * `fromPlain`, and the instance only if `passes` vouches for it. fromPlain copies known
   * properties only, so when a class's own fields are known too, the instance's keys need no
   * second look: for a batch, that look was a sixth of the check.
   */
  vouchedFromPlain(metatype: unknown, value: unknown): object | undefined {
    const entity = this.fromPlain(metatype, value);
    return entity !== undefined && this.check(entity, true) ? entity : undefined;
  }

  /** `passes`; `built`: made by fromPlain, as is everything nested in it. */
  private check(object: object, built: boolean): boolean {
    const plan = this.planOf(object.constructor);
    if (!plan) return false;
    if (!(built && plan.constructsKnownKeys)) for (const key of Object.keys(object)) if (!plan.known.has(key)) return false;
    for (const p of plan.properties) {
      const value = (object as Record<string, unknown>)[p.name];
      // As class-validator: a failed condition skips the property, @IsDefined included.
      if (p.optional && (value === null || value === undefined)) continue;
      if (p.conditions.length > 0 && !p.conditions.every((condition) => condition(object, value))) continue;
      for (const rule of p.rules) if (!rule(object, value)) return false;
      if (p.nested && value !== undefined && !this.nestedPasses(value, built)) return false;
    }
    return true;
  }

  /**
   * The instance class-transformer's plainToInstance would make of `value`, for a plain object
   * of known properties holding strings, numbers, booleans, nulls and (under @Type) arrays of
   * such objects; undefined for anything else.
   */
  fromPlain(metatype: unknown, value: unknown): object | undefined {
    if (!isPlainObject(value)) return undefined;
    const plan = this.planOf(metatype);
    if (!plan?.copiesPlainValues) return undefined;
    const instance = new (metatype as Class)();
    plan.constructsKnownKeys ??= Object.keys(instance).every((key) => plan.known.has(key));
    for (const key of Object.keys(value)) {
      const property = plan.known.get(key);
      if (!property) return undefined;
      const v = (value as Record<string, unknown>)[key];
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        (instance as Record<string, unknown>)[key] = v;
      } else if (property.itemClass && Array.isArray(v)) {
        const items: object[] = [];
        for (const item of v) {
          const built = this.fromPlain(property.itemClass(value as object, instance), item);
          if (built === undefined) return undefined;
          items.push(built);
        }
        (instance as Record<string, unknown>)[key] = items;
      } else {
        return undefined;
      }
    }
    return instance;
  }

  /** class-validator walks arrays item by item (an undefined item passes) and checks an object by its class. */
  private nestedPasses(value: unknown, built: boolean): boolean {
    if (Array.isArray(value)) return value.every((item) => item === undefined || this.nestedPasses(item, built));
    if (value instanceof Set || value instanceof Map) return false;
    return value instanceof Object && this.check(value, built);
  }

  private planOf(target: unknown): ClassPlan | null {
    let plan = this.plans.get(target);
    if (plan === undefined) {
      plan = typeof target === 'function' ? this.compile(target) : null;
      this.plans.set(target, plan);
    }
    return plan;
  }

  private compile(target: Function): ClassPlan | null {
    // The call class-validator's executor makes when no groups are asked for.
    const metadatas = this.storage.getTargetValidationMetadatas(target, undefined as unknown as string, false, false, undefined);
    // forbidUnknownValues: a class without rules is an error.
    if (metadatas.length === 0) return null;
    const grouped = this.storage.groupByPropertyName(metadatas);
    const known = new Map<string, PropertyPlan>();
    for (const [name, list] of Object.entries(grouped)) {
      const plan: PropertyPlan = { name, optional: false, conditions: [], rules: [], nested: false };
      for (const m of list) {
        if (m.validateIf) return null;
        switch (m.type) {
          case ValidationTypes.WHITELIST:
            break;
          case ValidationTypes.CONDITIONAL_VALIDATION:
            // IsOptional's own condition is `object[property] != null`: tested inline, without a call.
            if (m.name === IS_OPTIONAL) plan.optional = true;
            else plan.conditions.push(m.constraints[0] as Rule);
            break;
          case ValidationTypes.NESTED_VALIDATION:
            plan.nested = true;
            break;
          case ValidationTypes.IS_DEFINED:
          case ValidationTypes.CUSTOM_VALIDATION: {
            const rule = m.each ? null : this.rule(m);
            if (!rule) return null;
            plan.rules.push(rule);
            break;
          }
          default:
            return null;
        }
      }
      known.set(name, plan);
    }
    return { known, properties: [...known.values()], copiesPlainValues: this.copiesPlainValues(target, known) };
  }

  private rule(m: Metadata): Rule | null {
    const same = sameAnswer(m);
    if (same) return same;
    const constraints = this.storage.getTargetValidatorConstraints(m.constraintCls);
    if (constraints.some((c) => c.async)) return null;
    // Each constraint class has one instance in class-validator's default container (the
    // service sets no other), so it is looked up once here instead of on every call.
    const validators: ValidatorConstraintInterface[] = constraints.map((c) => c.instance);
    // One arguments object for every call of this rule, filled in for the call and emptied after
    // (the validators are synchronous and keep nothing): an object a call for each job's rules
    // was a good part of what the young generation had to collect.
    const args: ValidationArguments = { targetName: '', property: m.propertyName, object: NO_OBJECT, value: undefined, constraints: m.constraints };
    let targetClass: unknown = NO_OBJECT;
    return (object, value) => {
      // A class's name is read through a getter: once per class met, not once per call.
      if (object.constructor !== targetClass) {
        targetClass = object.constructor;
        args.targetName = object.constructor?.name;
      }
      args.object = object;
      args.value = value;
      let passed = true;
      for (const v of validators) {
        const ok: unknown = v.validate(value, args);
        if (!ok || typeof (ok as { then?: unknown }).then === 'function') {
          passed = false;
          break;
        }
      }
      args.object = NO_OBJECT;
      args.value = undefined;
      return passed;
    };
  }

  /** Whether class-transformer copies this class's plain values as they are; notes @Type on nested arrays. */
  private copiesPlainValues(target: Function, known: Map<string, PropertyPlan>): boolean {
    if (transformerStorage.getStrategy(target) !== 'none') return false;
    if (transformerStorage.getExposedMetadatas(target).length > 0 || transformerStorage.getExcludedMetadatas(target).length > 0) return false;
    for (const [name, plan] of known) {
      // class-transformer skips a property the prototype defines as an accessor or a method.
      for (let proto = target.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
        if (Object.getOwnPropertyDescriptor(proto, name)) return false;
      }
      if (transformerStorage.findTransformMetadatas(target, name, TransformationType.PLAIN_TO_CLASS).length > 0) return false;
      const type = transformerStorage.findTypeMetadata(target, name);
      if (!type) continue;
      if (!plan.nested || type.reflectedType !== Array || type.options?.discriminator || !type.typeFunction) return false;
      const typeFunction = type.typeFunction;
      plan.itemClass = (object, newObject) => typeFunction({ newObject, object, property: name });
    }
    return true;
  }
}

/**
 * The same answer as three of class-validator's rules on the hot path of every job's command, with
 * none of the work around them: @NotContains of a non-empty text (validator.js splits the value on
 * it and counts the parts, after merging an options object), @Matches of a RegExp without the g or
 * y flag (validator.js's `!!value.match(re)`, which builds the match), and @MaxLength of a text no
 * longer in UTF-16 units than the limit (validator.js counts fewer characters than units, with two
 * global regular expressions: only a longer text needs that count). Any other form of them goes
 * through the library. Together these were two fifths of a batch's validation.
 */
function sameAnswer(m: Metadata): Rule | null {
  const [constraint, modifiers] = (m.constraints ?? []) as unknown[];
  if (m.name === NOT_CONTAINS && typeof constraint === 'string' && constraint.length > 0) {
    return (_object, value) => typeof value === 'string' && !value.includes(constraint);
  }
  if (m.name === MATCHES && constraint instanceof RegExp && !constraint.global && !constraint.sticky && modifiers === undefined) {
    return (_object, value) => typeof value === 'string' && constraint.test(value);
  }
  if (m.name === MAX_LENGTH && typeof constraint === 'number') {
    return (_object, value) => typeof value === 'string' && (value.length <= constraint || maxLength(value, constraint));
  }
  return null;
}

/** What a rule's reused arguments point at between calls: not the last object checked. */
const NO_OBJECT = Object.freeze({});

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
