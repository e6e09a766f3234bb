import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsISO8601,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  NotContains,
  ValidateNested,
} from 'class-validator';
import { IsJobCwd, IsJobEnv, IsJobIds } from './job-flow-rules';

// An id of dots alone (".", "..") would be read as a path step in /api/jobs/:id, so one
// character at least must be something else.
export const JOB_ID_PATTERN = /^(?!\.+$)[A-Za-z0-9._:-]{1,128}$/;
export const MAX_COMMAND_LENGTH = 128 * 1024;
export const MAX_BATCH = 10_000;
/** A calendar date, a time, and a zone: Z or an offset. */
export const RUN_AT_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

function BackoffBaseRules(field: string) {
  // In the order stacked decorators take effect (bottom up), so the type check stays the rule
  // reported first.
  return applyDecorators(
    Max(100, { message: `${field} must be at most 100` }),
    Min(1, { message: `${field} must be at least 1` }),
    IsNumber({ allowNaN: false, allowInfinity: false }, { message: `${field} must be a number` }),
    IsOptional(),
  );
}

/** A job to enqueue: the seven-field form of SPEC §1 plus the optional fields. */
export class EnqueueJobDto {
  @ApiPropertyOptional({ description: '1–128 characters of A-Za-z0-9._:- ; generated when absent', example: 'nightly-report' })
  @IsOptional()
  @IsString({ message: 'id must be a string' })
  @Matches(JOB_ID_PATTERN, { message: 'id must be 1–128 characters of A-Za-z0-9._:- (not dots alone)' })
  id?: string;

  @ApiProperty({ description: 'UTF-8 text run with /bin/sh -c, stored exactly as sent; a body that is not UTF-8 is refused', example: 'echo hello' })
  @IsDefined({ message: 'command is required' })
  @IsString({ message: 'command must be a string' })
  @Matches(/\S/, { message: 'command must not be blank' })
  // An argument of /bin/sh -c cannot hold a NUL: such a job could be stored but never run.
  @NotContains('\0', { message: 'command must not contain a NUL character' })
  @MaxLength(MAX_COMMAND_LENGTH, { message: `command must be at most ${MAX_COMMAND_LENGTH} characters` })
  command: string;

  @ApiPropertyOptional({ description: 'retries after the first attempt; default: config max-retries' })
  @IsOptional()
  @IsInt({ message: 'max_retries must be a whole number' })
  @Min(0, { message: 'max_retries must be 0 or more' })
  @Max(1000, { message: 'max_retries must be at most 1000' })
  max_retries?: number;

  @ApiPropertyOptional({ description: 'higher runs first', default: 0 })
  @IsOptional()
  @IsInt({ message: 'priority must be a whole number' })
  @Min(-1_000_000, { message: 'priority must be at least -1000000' })
  @Max(1_000_000, { message: 'priority must be at most 1000000' })
  priority?: number;

  @ApiPropertyOptional({
    description:
      'ISO-8601 date and time before which the job does not run, with its time zone (Z or ±hh:mm); a value without one (2030-01-01T09:00, or a date alone) is refused as ambiguous',
    example: '2030-01-01T00:00:00Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'run_at must be an ISO-8601 time, such as 2030-01-01T00:00:00Z' })
  // JavaScript would read a time without a zone in the service's local zone and a date alone as
  // UTC: two different guesses. The caller says which zone it means.
  @Matches(RUN_AT_WITH_ZONE, { message: 'run_at must give a time and its time zone, such as 2030-01-01T09:00:00Z or 2030-01-01T09:00:00+02:00' })
  run_at?: string;

  @ApiPropertyOptional({ description: 'seconds the command may run; 0 = config job-timeout' })
  @IsOptional()
  @IsInt({ message: 'timeout_seconds must be a whole number' })
  @Min(0, { message: 'timeout_seconds must be 0 or more' })
  @Max(30 * 86400, { message: 'timeout_seconds must be at most 2592000 (30 days)' })
  timeout_seconds?: number;

  @ApiPropertyOptional({ description: 'retry n waits backoff_base^n seconds; default: config backoff-base' })
  @BackoffBaseRules('backoff_base')
  backoff_base?: number;

  @ApiPropertyOptional({ description: 'the same as backoff_base, as other queue tools spell it; give one of the two' })
  @BackoffBaseRules('base_backoff')
  base_backoff?: number;

  @ApiPropertyOptional({ description: 'the queue it goes to: 1–128 characters of A-Za-z0-9._:- (as ids)', default: 'default', example: 'emails' })
  @IsOptional()
  @IsString({ message: 'queue must be a string' })
  @Matches(JOB_ID_PATTERN, { message: 'queue must be 1–128 characters of A-Za-z0-9._:- (not dots alone)' })
  queue?: string;

  @ApiPropertyOptional({ description: 'accepted for the seven-field form; a new job is always pending', enum: ['pending'] })
  @IsOptional()
  @IsIn(['pending'], { message: 'state of a new job can only be "pending"' })
  state?: string;

  @ApiPropertyOptional({ description: 'accepted for the seven-field form; a new job always has 0', enum: [0] })
  @IsOptional()
  @IsIn([0], { message: 'attempts of a new job can only be 0' })
  attempts?: number;

  @ApiPropertyOptional({ description: 'accepted for the seven-field form; the service sets the real time' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'created_at must be an ISO-8601 time' })
  created_at?: string;

  @ApiPropertyOptional({ description: 'accepted for the seven-field form; the service sets the real time' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'updated_at must be an ISO-8601 time' })
  updated_at?: string;

  // Job flows: where and how the command runs, and what it waits for.

  @ApiPropertyOptional({
    description: "absolute directory the command runs in, on the worker's machine; absent: the worker's own. The CLI sends the caller's working directory",
    example: '/srv/app',
  })
  @IsOptional()
  @IsJobCwd()
  cwd?: string;

  @ApiPropertyOptional({
    description: "variables added to the worker's environment for this command: POSIX names (not QUEUECTL_*), string values; at most 64, 64 KiB in all",
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { RAILS_ENV: 'production' },
  })
  @IsOptional()
  @IsJobEnv()
  env?: Record<string, string>;

  @ApiPropertyOptional({
    description:
      'ids of jobs this one waits on: it stays pending, not due, until all of them completed, and ends dead ("dependency failed: <id>") when one ends dead. Existing jobs or jobs of the same batch (any order); unknown ids are refused (404), a cycle too (400)',
    type: [String],
    example: ['build-1'],
  })
  @IsOptional()
  @IsJobIds()
  after?: string[];
}

export class EnqueueBatchDto {
  @ApiProperty({ type: [EnqueueJobDto] })
  @IsArray({ message: 'jobs must be an array' })
  @ArrayMinSize(1, { message: 'jobs must hold at least one job' })
  @ArrayMaxSize(MAX_BATCH, { message: `jobs must hold at most ${MAX_BATCH} jobs` })
  @ValidateNested({ each: true })
  @Type(() => EnqueueJobDto)
  jobs: EnqueueJobDto[];
}
