import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsNumber, IsOptional, Max, Min } from 'class-validator';

/** Most jobs of one queue processing at once that a limit may allow (0 = no limit). */
export const MAX_QUEUE_CONCURRENCY = 100_000;

/**
 * A change to a queue's settings: only the fields given change. `null` clears an override (the
 * global setting applies again). Ranges of the overrides are those of the global settings.
 */
export class QueueSettingsDto {
  @ApiPropertyOptional({ description: 'jobs of the queue processing at once across all workers and replicas; 0 = no limit', example: 2 })
  @IsOptional()
  @IsInt({ message: 'concurrency must be a whole number' })
  @Min(0, { message: 'concurrency must be 0 (no limit) or more' })
  @Max(MAX_QUEUE_CONCURRENCY, { message: `concurrency must be at most ${MAX_QUEUE_CONCURRENCY}` })
  concurrency?: number;

  @ApiPropertyOptional({ description: 'paused: its jobs are not claimed (running ones finish)' })
  @IsOptional()
  @IsBoolean({ message: 'paused must be true or false' })
  paused?: boolean;

  @ApiPropertyOptional({ nullable: true, description: 'max-retries for new jobs of this queue that give none; null = the global setting' })
  @IsOptional()
  @IsInt({ message: 'max_retries must be a whole number or null' })
  max_retries?: number | null;

  @ApiPropertyOptional({ nullable: true, description: 'backoff-base for jobs of this queue that give none; null = the global setting' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'backoff_base must be a number or null' })
  backoff_base?: number | null;

  @ApiPropertyOptional({ nullable: true, description: 'backoff-max (seconds) for jobs of this queue; null = the global setting' })
  @IsOptional()
  @IsInt({ message: 'backoff_max must be a whole number or null' })
  backoff_max?: number | null;

  @ApiPropertyOptional({ nullable: true, description: 'job-timeout (seconds, 0 = none) for jobs of this queue that give no timeout_seconds; null = the global setting' })
  @IsOptional()
  @IsInt({ message: 'job_timeout must be a whole number or null' })
  job_timeout?: number | null;
}
