import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export class OutputQuery {
  @ApiPropertyOptional({ description: 'which run (1 = the first time the job ran); default: the newest' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'run must be a whole number' })
  @Min(1, { message: 'run must be 1 or more' })
  run?: number;

  @ApiPropertyOptional({ description: 'only the last N lines' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'tail must be a whole number' })
  @Min(0, { message: 'tail must be 0 or more' })
  @Max(10_000_000, { message: 'tail must be at most 10000000' })
  tail?: number;

  @ApiPropertyOptional({
    description:
      'only the bytes from this byte offset on (X-Queuectl-End of an earlier answer continues where it stopped); the body is then exactly those bytes, without the truncation mark',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'offset must be a whole number (bytes)' })
  @Min(0, { message: 'offset must be 0 or more' })
  offset?: number;
}

export class FollowQuery {
  @ApiPropertyOptional({ description: 'which run; default: the newest, or the first one once the job starts' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'run must be a whole number' })
  @Min(1, { message: 'run must be 1 or more' })
  run?: number;

  @ApiPropertyOptional({ description: 'start at this byte offset of the run (needs run); a Last-Event-ID header does the same' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'offset must be a whole number (bytes)' })
  @Min(0, { message: 'offset must be 0 or more' })
  offset?: number;
}
