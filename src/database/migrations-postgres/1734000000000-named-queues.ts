import { MigrationInterface, QueryRunner } from 'typeorm';
import { namedQueuesDown, namedQueuesUp } from '../../queues/queues-schema';

/** Named queues (PostgreSQL): see queues-schema.ts, shared with the SQLite migration. */
export class NamedQueuesPostgres1734000000000 implements MigrationInterface {
  name = 'NamedQueuesPostgres1734000000000';

  async up(q: QueryRunner): Promise<void> {
    await namedQueuesUp(q, 'double precision');
  }

  async down(q: QueryRunner): Promise<void> {
    await namedQueuesDown(q);
  }
}
