import { Injectable } from '@nestjs/common';
import { Sql } from '../database/sql';
import { IdempotencyKeyRow } from './idempotency-key.entity';

/** The answers to enqueues sent with an Idempotency-Key, by key. */
@Injectable()
export class IdempotencyKeysRepository {
  /**
   * Takes `key` for a request, or finds who has it. The insert waits on PostgreSQL for a
   * concurrent transaction that took the key to end, so of two requests with one key (on one
   * replica or two) one takes it and the other then reads its committed answer. A key older than
   * `expiredBefore` is forgotten first.
   */
  async claim(sql: Sql, key: string, requestHash: string, now: number, expiredBefore: number): Promise<IdempotencyKeyRow | undefined> {
    await sql.run('DELETE FROM idempotency_keys WHERE key = ? AND created_at < ?', [key, expiredBefore]);
    const taken = await sql.run(
      `INSERT INTO idempotency_keys (key, request_hash, status, answer, created_at) VALUES (?, ?, 0, '', ?) ON CONFLICT (key) DO NOTHING`,
      [key, requestHash, now],
    );
    if (taken === 1) return undefined;
    const [row] = await sql.rows<IdempotencyKeyRow>('SELECT key, request_hash, status, answer, created_at FROM idempotency_keys WHERE key = ?', [key]);
    return row;
  }

  async answer(sql: Sql, key: string, status: number, answer: unknown): Promise<void> {
    await sql.run('UPDATE idempotency_keys SET status = ?, answer = ? WHERE key = ?', [status, JSON.stringify(answer), key]);
  }

  /** Forgets keys taken before `before`, oldest first, at most `limit` of them. */
  async prune(sql: Sql, before: number, limit: number): Promise<number> {
    return sql.run('DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)', [before, limit]);
  }
}
