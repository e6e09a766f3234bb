import { Injectable, PipeTransform } from '@nestjs/common';
import { InvalidInput } from '../common/domain-errors';

export const WORKER_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Refuses a malformed worker id in a path before any lookup. */
@Injectable()
export class WorkerIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!WORKER_ID_PATTERN.test(value)) throw new InvalidInput(`"${value.slice(0, 80)}" is not a worker id`);
    return value;
  }
}
