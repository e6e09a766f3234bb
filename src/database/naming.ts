import { DefaultNamingStrategy, Table } from 'typeorm';

/**
 * SQLite's schema names no foreign key (its migrations never did), and TypeORM reads an unnamed
 * one back without a name; the entities' keys stay unnamed too, so the two compare equal.
 */
export class SqliteNamingStrategy extends DefaultNamingStrategy {
  override foreignKeyName(_table: Table | string, _columns: string[]): string {
    return undefined as unknown as string;
  }
}
