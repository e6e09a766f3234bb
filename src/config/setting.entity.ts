import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

export interface SettingRow {
  key: string;
  value: string;
  updated_at: number;
}

/** `settings`: runtime settings as text, by key. */
export function settingEntity(dialect: Dialect): EntitySchema<SettingRow> {
  const t = columns(dialect);
  return new EntitySchema<SettingRow>({
    name: 'settings',
    tableName: 'settings',
    columns: {
      key: t.varchar(64, { primary: true }),
      value: t.text(),
      updated_at: t.bigint(),
    },
  });
}
