import { Injectable, PipeTransform } from '@nestjs/common';
import { InvalidInput } from '../common/domain-errors';
import { JOB_ID_PATTERN } from './dto/enqueue-job.dto';

/** Refuses a malformed job id in a path before any lookup. */
@Injectable()
export class JobIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    // JSON quoting keeps the message on one line whatever the path held (a %0A decodes to a newline).
    if (!JOB_ID_PATTERN.test(value)) throw new InvalidInput(`${JSON.stringify(value.slice(0, 140))} is not a job id (1–128 characters of A-Za-z0-9._:-)`);
    return value;
  }
}
