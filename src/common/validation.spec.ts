import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import type { MetadataStorage as TransformerStorage } from 'class-transformer/types/MetadataStorage';
import { IsString, getMetadataStorage, validate } from 'class-validator';
import { SetConfigDto } from '../config/config.controller';
import { EnqueueBatchDto, EnqueueJobDto } from '../jobs/dto/enqueue-job.dto';
import { ListJobsQuery, PurgeDto } from '../jobs/dto/list-jobs.query';
import { FollowQuery, OutputQuery } from '../jobs/dto/output.query';
import { MetricsQuery } from '../metrics/metrics.controller';
import {
  ClaimDto,
  HeartbeatDto,
  OutputChunkDto,
  OutputDto,
  RegisterWorkerDto,
  ReportDto,
  RunResultDto,
  StartWorkersDto,
  StopWorkersDto,
} from '../workers/dto/worker-protocol.dto';
import { InvalidInput } from './domain-errors';
import { strictValidationPipe } from './validation';
import { ValidityCheck } from './validity-check';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: TransformerStorage };

/**
 * The quick path must agree with class-transformer and class-validator: it may only vouch for an
 * object that class-validator accepts (or a bad job would get in), it should vouch for every
 * object class-validator accepts (or it saves nothing), and what it builds must be what
 * class-transformer builds. Checked on every DTO of the service, on valid objects and on
 * thousands of mutations of them; and the whole pipe against Nest's own with the same options.
 */
const OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Class = new () => any;

const VALID: Array<[Class, Record<string, unknown>]> = [
  [EnqueueJobDto, { command: 'echo hi' }],
  [
    EnqueueJobDto,
    {
      id: 'nightly-report',
      command: 'sleep 1',
      max_retries: 2,
      priority: -5,
      run_at: '2030-01-01T00:00:00Z',
      timeout_seconds: 0,
      backoff_base: 1.5,
      state: 'pending',
      attempts: 0,
      created_at: '2024-01-01T00:00:00.000Z',
      updated_at: '2024-01-01T00:00:00.000Z',
    },
  ],
  [EnqueueBatchDto, { jobs: [{ command: 'true' }, { id: 'b.2', command: 'false', priority: 3 }] }],
  [ListJobsQuery, { state: 'dead', q: 'echo', limit: '10', cursor: '5' }],
  [PurgeDto, { state: 'completed', older_than_seconds: 60 }],
  [OutputQuery, { run: '1', tail: '20', offset: '0' }],
  [FollowQuery, { run: '2', offset: '10' }],
  [MetricsQuery, { minutes: '15' }],
  [SetConfigDto, { value: 5 }],
  [RegisterWorkerDto, { hostname: 'build-01', pid: 4242, concurrency: 4 }],
  [ClaimDto, { limit: 4, wait_ms: 1000 }],
  [HeartbeatDto, { running: [{ id: 'a', lease: 1 }] }],
  [OutputDto, { chunks: [{ id: 'a', lease: 2, offset: 0, data_base64: 'b3V0Cg==', truncated: false }] }],
  [
    ReportDto,
    {
      results: [
        { id: 'a', lease: 1, exit_code: 0, signal: null, error: null, output_base64: 'dGFpbAo=', output_offset: 4, truncated: false },
        { id: 'b', lease: 3, exit_code: null, signal: 'SIGKILL', error: 'timeout' },
      ],
      released: [{ id: 'c', lease: 2 }],
      claim: 2,
    },
  ],
  [StartWorkersDto, { count: 2 }],
  [StopWorkersDto, { id: 'worker-1' }],
];

/** Values that sit on or near the edges of the rules above. */
const POOL: unknown[] = [
  null,
  undefined,
  '',
  ' ',
  '\t\n',
  'a\0b',
  'x'.repeat(129),
  'x'.repeat(128 * 1024 + 1),
  // Longer than 128 KiB in UTF-16 units, not in the characters validator.js counts.
  '\u{1F600}'.repeat(64 * 1024 + 1),
  'x\uFE0F'.repeat(64 * 1024 + 1),
  '..',
  '.a',
  'ok-id_1:2',
  'has space',
  'echo ok',
  'pending',
  'dead',
  'completed',
  'SIGTERM',
  'sigterm',
  '2030-01-01T00:00:00Z',
  '2030-02-30T00:00:00Z',
  '2030-01-01',
  'tomorrow',
  '10',
  '1.5',
  '-1',
  0,
  1,
  -1,
  2,
  1.5,
  100,
  101,
  1000,
  1001,
  1_000_000,
  -1_000_001,
  2_592_000,
  2_592_001,
  60_000,
  60_001,
  Number.MAX_SAFE_INTEGER,
  1e21,
  true,
  false,
  [],
  [1],
  ['a'],
  {},
  { command: 'echo nested' },
  { id: 'a', lease: 1 },
];

/** A copy as a JSON body would arrive (structuredClone would make objects of another realm under Jest). */
function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function propertiesOf(cls: Class): string[] {
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(cls, undefined as unknown as string, false, false, undefined);
  return [...new Set(metadatas.map((m) => m.propertyName))];
}

/** A copy of `base` with a few properties changed, dropped or added; nested items mutated the same way. */
function mutate(cls: Class, base: Record<string, unknown>, random: () => number): Record<string, unknown> {
  const out: Record<string, unknown> = clone(base);
  // A copy: the pool's arrays and objects must not be changed (or end up inside themselves).
  const pick = <T>(list: T[]): T => clone(list[Math.floor(random() * list.length)]);
  const changes = 1 + Math.floor(random() * 2);
  for (let i = 0; i < changes; i++) {
    const roll = random();
    const property = pick(propertiesOf(cls));
    const nested = defaultMetadataStorage.findTypeMetadata(cls, property)?.typeFunction?.() as Class | undefined;
    // Defined, not assigned: JSON.parse makes "__proto__" an own property too.
    if (roll < 0.1) Object.defineProperty(out, pick(['extra', 'constructor', 'ID', '__proto__']), { value: pick(POOL), enumerable: true, writable: true, configurable: true });
    else if (roll < 0.25) delete out[property];
    else if (nested && Array.isArray(out[property]) && roll < 0.6) {
      const items = out[property] as unknown[];
      const at = Math.floor(random() * (items.length + 1));
      const template = items.find((item) => item !== null && typeof item === 'object') as Record<string, unknown> | undefined;
      items[at] = template && random() < 0.8 ? mutate(nested, template, random) : pick(POOL);
    } else out[property] = pick(POOL);
  }
  return out;
}

/** Each valid object, then 299 mutations of it, for every DTO. */
function* validAndMutated(seed: number): Generator<[Class, Record<string, unknown>]> {
  const random = prng(seed);
  for (const [cls, base] of VALID) for (let i = 0; i < 300; i++) yield [cls, i === 0 ? base : mutate(cls, base, random)];
}

async function classValidatorAccepts(cls: Class, plain: Record<string, unknown>): Promise<boolean> {
  const errors = await validate(plainToInstance(cls, clone(plain)) as object, OPTIONS);
  return errors.length === 0;
}

describe('ValidityCheck against class-validator', () => {
  const check = new ValidityCheck();

  it.each(VALID.map(([cls, plain]) => [cls.name, cls, plain] as const))('vouches for a valid %s', async (_name, cls, plain) => {
    expect(await classValidatorAccepts(cls, plain)).toBe(true);
    expect(check.passes(plainToInstance(cls, clone(plain)) as object)).toBe(true);
  });

  it('agrees with class-validator on thousands of mutated objects of every DTO', async () => {
    const random = prng(20241123);
    let accepted = 0;
    let refused = 0;
    for (const [cls, base] of VALID) {
      for (let i = 0; i < 400; i++) {
        const plain = mutate(cls, base, random);
        const expected = await classValidatorAccepts(cls, plain);
        const quick = check.passes(plainToInstance(cls, clone(plain)) as object);
        if (quick !== expected) throw new Error(`${cls.name}: quick ${quick}, class-validator ${expected} for ${JSON.stringify(plain)}`);
        if (expected) accepted++;
        else refused++;
      }
    }
    // Both outcomes well represented, so the agreement means something.
    expect(accepted).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(2000);
  });

  it('builds what class-transformer builds, whenever it builds anything', () => {
    let built = 0;
    for (const [cls, plain] of validAndMutated(7)) {
      const quick = check.fromPlain(cls, clone(plain));
      if (quick === undefined) continue;
      built++;
      const expected = plainToInstance(cls, clone(plain)) as object;
      expect(quick).toEqual(expected);
      expect(Object.getPrototypeOf(quick)).toBe(cls.prototype);
      expect(Object.keys(quick)).toEqual(Object.keys(expected));
      for (const [key, value] of Object.entries(expected)) {
        if (Array.isArray(value)) value.forEach((item, n) => expect(Object.getPrototypeOf((quick as Record<string, unknown[]>)[key][n])).toBe(Object.getPrototypeOf(item)));
      }
    }
    expect(built).toBeGreaterThan(1500);
  });

  it('builds the enqueue DTOs, and leaves DTOs that class-transformer converts (@Type(() => Number)) to it', () => {
    expect(check.fromPlain(EnqueueJobDto, { command: 'echo' })).toBeInstanceOf(EnqueueJobDto);
    expect(check.fromPlain(EnqueueBatchDto, { jobs: [{ command: 'echo' }] })).toBeInstanceOf(EnqueueBatchDto);
    expect(check.fromPlain(ListJobsQuery, { limit: '10' })).toBeUndefined();
    expect(check.fromPlain(EnqueueJobDto, Object.assign(Object.create(null), { command: 'echo' }))).toBeUndefined();
    expect(check.fromPlain(EnqueueJobDto, { command: { nested: true } })).toBeUndefined();
  });

  it('vouches for a plain value it builds only when class-validator accepts what class-transformer builds', async () => {
    let vouched = 0;
    for (const [cls, plain] of validAndMutated(11)) {
      const quick = check.vouchedFromPlain(cls, clone(plain));
      const built = check.fromPlain(cls, clone(plain)) !== undefined;
      const accepted = await classValidatorAccepts(cls, plain);
      if ((quick !== undefined) !== (built && accepted)) throw new Error(`${cls.name}: vouched ${quick !== undefined}, built ${built}, accepted ${accepted} for ${JSON.stringify(plain)}`);
      if (quick !== undefined) vouched++;
    }
    expect(vouched).toBeGreaterThan(500);
  });

  it('still looks at the keys of an instance whose class makes a field no rule knows', async () => {
    class WithLooseField {
      @IsString()
      name!: string;
      loose = 1;
    }
    expect(await classValidatorAccepts(WithLooseField, { name: 'a' })).toBe(false);
    expect(check.vouchedFromPlain(WithLooseField, { name: 'a' })).toBeUndefined();
    expect(check.vouchedFromPlain(EnqueueJobDto, { command: 'a' })).toBeInstanceOf(EnqueueJobDto);
  });

  it('never vouches for a value that is not an instance of a class with rules', () => {
    expect(check.passes({ command: 'echo' })).toBe(false);
    expect(check.passes(Object.assign(new EnqueueBatchDto(), { jobs: [{ command: 'echo' }] }))).toBe(false);
    expect(check.passes(Object.assign(new EnqueueBatchDto(), { jobs: new Set([plainToInstance(EnqueueJobDto, { command: 'a' })]) }))).toBe(false);
  });
});

describe('strictValidationPipe', () => {
  const body = (metatype: Class): ArgumentMetadata => ({ type: 'body', metatype });

  it('answers every body exactly as Nest’s own ValidationPipe with the same options', async () => {
    const pipe = strictValidationPipe();
    const options = { whitelist: true, forbidNonWhitelisted: true, transform: true, forbidUnknownValues: true, validationError: { target: true } };
    const nest = new ValidationPipe({ ...options, exceptionFactory: (pipe as unknown as { exceptionFactory: ValidationPipe['createExceptionFactory'] }).exceptionFactory });
    const outcome = (p: ValidationPipe, cls: Class, plain: unknown) =>
      p.transform(clone(plain), body(cls)).then(
        (value: unknown) => ({ value }),
        (e: InvalidInput) => ({ error: [e.constructor.name, e.message, e.details] }),
      );
    const random = prng(99);
    for (const [cls, base] of VALID) {
      for (let i = 0; i < 150; i++) {
        const plain = i === 0 ? base : mutate(cls, base, random);
        expect(await outcome(pipe, cls, plain)).toEqual(await outcome(nest, cls, plain));
      }
    }
  });

  it('returns the same instance for a valid batch as class-transformer builds', async () => {
    const plain = { jobs: [{ command: 'true', priority: 2 }, { id: 'x', command: 'echo' }] };
    const out = (await strictValidationPipe().transform(clone(plain), body(EnqueueBatchDto))) as EnqueueBatchDto;
    expect(out).toBeInstanceOf(EnqueueBatchDto);
    expect(out).toEqual(plainToInstance(EnqueueBatchDto, plain));
    expect(out.jobs[1]).toBeInstanceOf(EnqueueJobDto);
  });

  it('still answers an invalid batch with class-validator’s messages', async () => {
    const plain = { jobs: [{ command: 'true' }, { command: 5, colour: 'red' }, { command: ' ' }] };
    const error = await strictValidationPipe()
      .transform(plain, body(EnqueueBatchDto))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(InvalidInput);
    expect((error as InvalidInput).message).toBe('unknown field "jobs[1].colour" (and 2 more: see details)');
    expect((error as InvalidInput).details).toEqual(['unknown field "jobs[1].colour"', 'jobs[1].command: command must be a string', 'jobs[2].command: command must not be blank']);
  });

  it('refuses a job with a NUL in its command, and an unknown field at the top', async () => {
    const pipe = strictValidationPipe();
    await expect(pipe.transform({ command: 'echo \0' }, body(EnqueueJobDto))).rejects.toThrow('command must not contain a NUL character');
    await expect(pipe.transform({ command: 'echo', nope: 1 }, body(EnqueueJobDto))).rejects.toThrow('unknown field "nope"');
  });
});
