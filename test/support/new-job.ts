import { NewJob } from '../../src/jobs/job-row';

/** A job as JobsRepository.insert takes it, with plain defaults; tests override what they need. */
export function newJob(id: string, fields: Partial<NewJob> = {}): NewJob {
  return { id, command: `echo ${id}`, maxRetries: 3, priority: 0, runAt: null, timeoutSeconds: null, backoffBase: null, ...fields };
}
