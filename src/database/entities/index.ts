import { EntitySchema } from 'typeorm';
import { settingEntity } from '../../config/setting.entity';
import { jobAttemptEntity } from '../../jobs/job-attempt.entity';
import { jobDependencyEntity } from '../../jobs/job-dependency.entity';
import { jobCountEntity } from '../../jobs/job-count.entity';
import { jobOutputEntity } from '../../jobs/job-output.entity';
import { idempotencyKeyEntity } from '../../jobs/idempotency-key.entity';
import { jobEntity } from '../../jobs/job.entity';
import { reportAnswerEntity } from '../../jobs/report-answer.entity';
import { runSequenceEntity } from '../../jobs/run-sequence.entity';
import { queueEntity } from '../../queues/queue.entity';
import { scheduleEntity } from '../../schedules/schedule.entity';
import { workerEntity } from '../../workers/worker.entity';
import { Dialect } from '../sql';

/** Every table, as TypeORM sees it in one dialect. */
export function entitiesFor(dialect: Dialect): EntitySchema<any>[] {
  const both = [jobEntity, jobAttemptEntity, jobOutputEntity, jobCountEntity, reportAnswerEntity, workerEntity, settingEntity, queueEntity, jobDependencyEntity, scheduleEntity, idempotencyKeyEntity].map((e) => e(dialect));
  return dialect === 'sqlite' ? [...both, runSequenceEntity()] : both;
}
