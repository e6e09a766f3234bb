import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Clock } from '../common/clock';
import { DomainError, IdempotencyConflict, InvalidInput } from '../common/domain-errors';
import { SqlDatabase } from '../database/sql';
import { EnqueueJobDto } from './dto/enqueue-job.dto';
import { IdempotencyKeyRow } from './idempotency-key.entity';
import { IdempotencyKeysRepository } from './idempotency-keys.repository';
import { JobSignals } from './job-signals';
import { JobResponse } from './job.mapper';
import { JobsService } from './jobs.service';

/** How long a key's first answer is given again (Stripe's window). */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const KEY_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${MAX_IDEMPOTENCY_KEY_LENGTH}}$`);

export interface IdempotentAnswer<T> {
  /** 201 for the request that enqueued, 200 for the same request sent again. */
  status: 200 | 201;
  body: T;
}

/**
 * Enqueues sent with an `Idempotency-Key` header: the key, a hash of the route and body, and the
 * answer are stored in the transaction that inserts the jobs, so the same request sent again within
 * 24 h gets the first answer (and creates nothing), another request with the key is refused
 * (409), and two sent at once create the jobs once. Only answers that enqueued are kept: a refused
 * request (a taken id, say) stores nothing, and the same key may be sent again.
 */
@Injectable()
export class IdempotentEnqueue {
  constructor(
    private readonly db: SqlDatabase,
    private readonly jobs: JobsService,
    private readonly keys: IdempotencyKeysRepository,
    private readonly signals: JobSignals,
    private readonly clock: Clock,
  ) {}

  /** `route` tells one job from a batch: the same key may not be used for both. */
  async enqueue<T>(key: string, route: 'job' | 'batch', inputs: EnqueueJobDto[], answerOf: (jobs: JobResponse[]) => T): Promise<IdempotentAnswer<T>> {
    if (!KEY_PATTERN.test(key)) {
      throw new InvalidInput(`Idempotency-Key must be 1–${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters (no spaces)`);
    }
    const hash = createHash('sha256').update(`${route}\n${canonicalJson(inputs)}`).digest('hex');
    const newJobs = await this.jobs.newJobs(inputs);
    const now = this.clock.now();
    const result = await this.db.write<{ body: T } | { earlier: IdempotencyKeyRow }>(async (sql) => {
      const earlier = await this.keys.claim(sql, key, hash, now, now - IDEMPOTENCY_KEY_TTL_MS);
      if (earlier) return { earlier };
      const [rows] = await this.jobs.insertGroups(sql, [newJobs], now);
      // Thrown, so the unit (and the key taken in it) is rolled back.
      if (rows instanceof DomainError) throw rows;
      const body = answerOf(await this.jobs.answerInserted(newJobs, rows, sql));
      await this.keys.answer(sql, key, 201, body);
      this.signals.workAvailable(sql);
      return { body };
    });
    if ('body' in result) return { status: 201, body: result.body };
    if (result.earlier.request_hash !== hash) throw new IdempotencyConflict(key);
    return { status: 200, body: JSON.parse(result.earlier.answer) as T };
  }
}

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
