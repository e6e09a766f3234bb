import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { EnqueueJobDto } from '../../jobs/dto/enqueue-job.dto';
import { CATCH_UP_MODES, CatchUp } from '../timetable';

/**
 * A schedule's name: 1–100 characters of A-Za-z0-9._- (not dots alone). No colon: a tick's job id
 * is `<name>:<tick in epoch ms>`, and 100 leaves room for it within the 128 characters of an id.
 */
export const SCHEDULE_NAME_PATTERN = /^(?!\.+$)[A-Za-z0-9._-]{1,100}$/;
export const SCHEDULE_NAME_RULE = '1–100 characters of A-Za-z0-9._- (not dots alone, no colon)';
export const MAX_EVERY_SECONDS = 366 * 86400;

/** POST /api/schedules: a name, when (a cron expression or an interval) and the job each tick enqueues. */
export class CreateScheduleDto {
  @ApiProperty({ description: SCHEDULE_NAME_RULE, example: 'nightly-report' })
  @IsDefined({ message: 'name is required' })
  @IsString({ message: 'name must be a string' })
  @Matches(SCHEDULE_NAME_PATTERN, { message: `name must be ${SCHEDULE_NAME_RULE}` })
  name: string;

  @ApiPropertyOptional({ description: 'a cron expression (5 fields, or 6 with seconds first), read by croner; give cron or every_seconds', example: '30 9 * * 1-5' })
  @IsOptional()
  @IsString({ message: 'cron must be a string' })
  @MaxLength(256, { message: 'cron must be at most 256 characters' })
  cron?: string;

  @ApiPropertyOptional({ description: 'IANA time zone the cron expression is read in; default UTC (the CLI sends its own zone)', example: 'Europe/Berlin' })
  @IsOptional()
  @IsString({ message: 'timezone must be a string' })
  @MaxLength(64, { message: 'timezone must be at most 64 characters' })
  timezone?: string;

  @ApiPropertyOptional({ description: 'an interval in whole seconds; ticks fall on multiples of it since the epoch; give cron or every_seconds', example: 300 })
  @IsOptional()
  @IsInt({ message: 'every_seconds must be a whole number' })
  @Min(1, { message: 'every_seconds must be at least 1' })
  @Max(MAX_EVERY_SECONDS, { message: `every_seconds must be at most ${MAX_EVERY_SECONDS} (366 days)` })
  every_seconds?: number;

  @ApiPropertyOptional({ description: 'after downtime: none skips the missed ticks, one enqueues the latest, all enqueues each (the latest 100 at most)', enum: CATCH_UP_MODES, default: 'one' })
  @IsOptional()
  @IsIn(CATCH_UP_MODES as CatchUp[], { message: 'catch_up must be one of none, one, all' })
  catch_up?: CatchUp;

  @ApiProperty({ description: 'the job each tick enqueues: a POST /api/jobs body without id and run_at', type: EnqueueJobDto })
  @IsDefined({ message: 'job is required' })
  @IsObject({ message: 'job must be an object such as {"command":"echo hi"}' })
  @ValidateNested()
  @Type(() => EnqueueJobDto)
  job: EnqueueJobDto;
}
