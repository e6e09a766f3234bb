import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An idle claim long-poll sleeps until the earliest future due time (a scheduled job, a retry
 * after backoff). The claim index orders by priority first, so finding that minimum needs its
 * own index on due_at over the same claimable rows.
 */
export class DueIndex1732400000000 implements MigrationInterface {
  name = 'DueIndex1732400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX jobs_due ON jobs (due_at) WHERE state IN ('pending', 'failed')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_due`);
  }
}
