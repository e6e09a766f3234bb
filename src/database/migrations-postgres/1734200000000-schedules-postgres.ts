import { MigrationInterface, QueryRunner } from 'typeorm';
import { IDEMPOTENCY_KEYS_TABLE, SCHEDULES_TABLE } from '../migrations/1734200000000-schedules';

/** `schedules` and `idempotency_keys` on PostgreSQL: the same statements as SQLite's migration. */
export class SchedulesPostgres1734200000000 implements MigrationInterface {
  name = 'SchedulesPostgres1734200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(SCHEDULES_TABLE);
    await q.query(`CREATE INDEX schedules_next_run ON schedules (next_run_at)`);
    await q.query(IDEMPOTENCY_KEYS_TABLE);
    await q.query(`CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP TABLE schedules`);
  }
}
