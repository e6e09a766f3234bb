import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { JOB_ID_PATTERN } from './enqueue-job.dto';
import { JOB_STATES } from '../job-state';

export class ListJobsQuery {
  @ApiPropertyOptional({ enum: JOB_STATES })
  @IsOptional()
  @IsIn(JOB_STATES, { message: `state must be one of ${JOB_STATES.join(', ')}` })
  state?: string;

  @ApiPropertyOptional({ description: 'only jobs of this queue' })
  @IsOptional()
  @IsString({ message: 'queue must be a string' })
  @Matches(JOB_ID_PATTERN, { message: 'queue must be a queue name (1–128 characters of A-Za-z0-9._:-)' })
  queue?: string;

  @ApiPropertyOptional({ description: 'a job id, or part of a command' })
  @IsOptional()
  @IsString()
  @MaxLength(1000, { message: 'q must be at most 1000 characters' })
  q?: string;

  @ApiPropertyOptional({ default: 100, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1, { message: 'limit must be from 1 to 1000' })
  @Max(1000, { message: 'limit must be from 1 to 1000' })
  limit?: number;

  @ApiPropertyOptional({ description: 'the next_cursor of the previous page' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'cursor must come from next_cursor' })
  @Min(1, { message: 'cursor must come from next_cursor' })
  cursor?: number;
}

export class PurgeDto {
  @ApiProperty({ enum: ['completed', 'dead'] })
  @IsIn(['completed', 'dead'], { message: 'state must be completed or dead' })
  state: 'completed' | 'dead';

  @ApiPropertyOptional({ description: 'only jobs finished at least this many seconds ago', default: 0 })
  @IsOptional()
  @IsInt({ message: 'older_than_seconds must be a whole number' })
  @Min(0, { message: 'older_than_seconds must be 0 or more' })
  older_than_seconds?: number;
}
