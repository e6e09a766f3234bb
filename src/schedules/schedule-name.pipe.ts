import { Injectable, PipeTransform } from '@nestjs/common';
import { InvalidInput } from '../common/domain-errors';
import { SCHEDULE_NAME_PATTERN, SCHEDULE_NAME_RULE } from './dto/create-schedule.dto';

/** Refuses a malformed schedule name in a path before any lookup. */
@Injectable()
export class ScheduleNamePipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!SCHEDULE_NAME_PATTERN.test(value)) throw new InvalidInput(`${JSON.stringify(value.slice(0, 120))} is not a schedule name (${SCHEDULE_NAME_RULE})`);
    return value;
  }
}
