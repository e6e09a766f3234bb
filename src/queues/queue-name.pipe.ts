import { Injectable, PipeTransform } from '@nestjs/common';
import { InvalidInput } from '../common/domain-errors';
import { JOB_ID_PATTERN } from '../jobs/dto/enqueue-job.dto';

/** Refuses a malformed queue name in a path before any lookup (names follow the rules of job ids). */
@Injectable()
export class QueueNamePipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!JOB_ID_PATTERN.test(value)) throw new InvalidInput(`${JSON.stringify(value.slice(0, 140))} is not a queue name (1–128 characters of A-Za-z0-9._:-)`);
    return value;
  }
}
