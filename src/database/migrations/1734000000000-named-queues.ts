import { MigrationInterface, QueryRunner } from 'typeorm';
import { namedQueuesDown, namedQueuesUp } from '../../queues/queues-schema';

/** Named queues (SQLite): see queues-schema.ts, shared with the PostgreSQL migration. */
export class NamedQueues1734000000000 implements MigrationInterface {
  name = 'NamedQueues1734000000000';

  async up(q: QueryRunner): Promise<void> {
    await namedQueuesUp(q, 'real');
  }

  async down(q: QueryRunner): Promise<void> {
    await namedQueuesDown(q);
  }
}
