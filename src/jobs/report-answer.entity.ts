import { EntitySchema } from 'typeorm';
import { columns } from '../database/entities/column-types';
import { Dialect } from '../database/sql';

export interface ReportAnswerRow {
  report_id: string;
  worker_id: string;
  answer: string;
  created_at: number;
}

/** `report_answers`: the answer given to each worker report, by the report's id, so a report sent again gets it again. */
export function reportAnswerEntity(dialect: Dialect): EntitySchema<ReportAnswerRow> {
  const t = columns(dialect);
  return new EntitySchema<ReportAnswerRow>({
    name: 'report_answers',
    tableName: 'report_answers',
    columns: {
      report_id: t.varchar(64, { primary: true }),
      worker_id: t.varchar(64),
      answer: t.text(),
      created_at: t.bigint(),
    },
    indices: [{ name: 'report_answers_created', columns: ['created_at'] }],
  });
}
