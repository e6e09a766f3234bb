import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBase64,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateIf,
  ValidateNested,
  ValidationArguments,
} from 'class-validator';
import { JOB_ID_PATTERN } from '../../jobs/dto/enqueue-job.dto';

/** Most jobs one worker runs at once, and so most entries in one message. */
export const MAX_CONCURRENCY = 256;
/** Longest wait of a claim long-poll; the worker's own timeout must be longer. */
export const MAX_CLAIM_WAIT_MS = 60_000;
/** Largest piece of output in one message, in bytes (the output-limit setting caps what is kept). */
export const MAX_OUTPUT_CHUNK = 4 * 1024 * 1024;
/** The same in base64, as output travels in the JSON messages. */
const MAX_OUTPUT_CHUNK_BASE64 = Math.ceil(MAX_OUTPUT_CHUNK / 3) * 4;

/** Most queues one worker serves by name. */
export const MAX_SERVED_QUEUES = 100;

/** What is wrong with a worker's `queues`, in one line, or undefined when it is good. */
function servedQueuesProblem(value: unknown): string | undefined {
  if (!Array.isArray(value)) return 'queues must be an array of queue names';
  if (value.length < 1) return 'queues must name at least one queue (leave it out for all)';
  if (value.length > MAX_SERVED_QUEUES) return `queues must name at most ${MAX_SERVED_QUEUES} queues`;
  if (!value.every((q) => typeof q === 'string' && JOB_ID_PATTERN.test(q))) return 'queues must hold queue names (1–128 characters of A-Za-z0-9._:-)';
  return undefined;
}

/**
 * `queues` of a worker message: the queues it serves; absent for all. One rule for the whole
 * array: the service's fast validity check (src/common/validity-check.ts) takes no `each` rules,
 * and these messages are on the hot path (every claim and report).
 */
function ServedQueues() {
  return applyDecorators(
    ApiPropertyOptional({ type: [String], description: 'serve only these queues (default: all)', example: ['default', 'emails'] }),
    IsOptional(),
    ValidateBy({
      name: 'servedQueues',
      validator: {
        validate: (value: unknown) => servedQueuesProblem(value) === undefined,
        defaultMessage: (args?: ValidationArguments) => servedQueuesProblem(args?.value) ?? 'queues is invalid',
      },
    }),
  );
}

export class RegisterWorkerDto {
  @ApiProperty({ example: 'build-01' })
  @IsString({ message: 'hostname must be a string' })
  @MaxLength(255, { message: 'hostname must be at most 255 characters' })
  hostname: string;

  @ApiProperty({ example: 4242 })
  @IsInt({ message: 'pid must be a whole number' })
  @Min(1, { message: 'pid must be 1 or more' })
  pid: number;

  @ApiProperty({ description: 'jobs this worker runs at once', example: 4 })
  @IsInt({ message: 'concurrency must be a whole number' })
  @Min(1, { message: 'concurrency must be 1 or more' })
  @Max(MAX_CONCURRENCY, { message: `concurrency must be at most ${MAX_CONCURRENCY}` })
  concurrency: number;

  @ServedQueues()
  queues?: string[];
}

export class ClaimDto {
  @ApiPropertyOptional({ description: 'jobs wanted, at most', default: 1 })
  @IsOptional()
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1, { message: 'limit must be 1 or more' })
  @Max(MAX_CONCURRENCY, { message: `limit must be at most ${MAX_CONCURRENCY}` })
  limit?: number;

  @ApiPropertyOptional({ description: 'long-poll: wait up to this long for a job to become due', default: 0 })
  @IsOptional()
  @IsInt({ message: 'wait_ms must be a whole number' })
  @Min(0, { message: 'wait_ms must be 0 or more' })
  @Max(MAX_CLAIM_WAIT_MS, { message: `wait_ms must be at most ${MAX_CLAIM_WAIT_MS}` })
  wait_ms?: number;

  @ServedQueues()
  queues?: string[];
}

export class RunRefDto {
  @ApiProperty()
  @IsString({ message: 'id must be a string' })
  @Matches(JOB_ID_PATTERN, { message: 'id must be a job id' })
  id: string;

  @ApiProperty({ description: 'the lease the job was claimed with (fencing value)' })
  @IsInt({ message: 'lease must be a whole number' })
  @Min(1, { message: 'lease must be 1 or more' })
  lease: number;
}

export class HeartbeatDto {
  @ApiProperty({ type: [RunRefDto] })
  @IsArray({ message: 'running must be an array' })
  @ArrayMaxSize(MAX_CONCURRENCY)
  @ValidateNested({ each: true })
  @Type(() => RunRefDto)
  running: RunRefDto[];
}

export class OutputChunkDto extends RunRefDto {
  @ApiProperty({ description: "byte offset of the chunk's first byte in the run's output; bytes already stored are not stored again" })
  @IsInt({ message: 'offset must be a whole number' })
  @Min(0, { message: 'offset must be 0 or more' })
  offset: number;

  @ApiProperty({ description: 'the output bytes, base64' })
  @IsString({ message: 'data_base64 must be a string' })
  @MaxLength(MAX_OUTPUT_CHUNK_BASE64, { message: `data_base64 must hold at most ${MAX_OUTPUT_CHUNK} bytes` })
  @IsBase64(undefined, { message: 'data_base64 must be base64' })
  data_base64: string;

  @ApiPropertyOptional({ description: 'the worker dropped output past the limit' })
  @IsOptional()
  @IsBoolean({ message: 'truncated must be true or false' })
  truncated?: boolean;
}

export class OutputDto {
  @ApiProperty({ type: [OutputChunkDto] })
  @IsArray({ message: 'chunks must be an array' })
  @ArrayMaxSize(MAX_CONCURRENCY)
  @ValidateNested({ each: true })
  @Type(() => OutputChunkDto)
  chunks: OutputChunkDto[];
}

export class RunResultDto extends RunRefDto {
  @ApiProperty({ nullable: true, description: 'null when a signal ended the command' })
  @ValidateIf((o: RunResultDto) => o.exit_code !== null)
  @IsInt({ message: 'exit_code must be a whole number or null' })
  exit_code: number | null;

  @ApiPropertyOptional({ nullable: true, example: 'SIGKILL' })
  @IsOptional()
  @ValidateIf((o: RunResultDto) => o.signal !== null)
  @Matches(/^SIG[A-Z0-9]+$/, { message: 'signal must be a signal name such as SIGKILL' })
  signal?: string | null;

  @ApiPropertyOptional({ nullable: true, description: 'why the worker ended it: timeout, cancelled, …' })
  @IsOptional()
  @ValidateIf((o: RunResultDto) => o.error !== null)
  @IsString({ message: 'error must be a string' })
  @MaxLength(1000)
  error?: string | null;

  @ApiPropertyOptional({ description: 'output not sent yet: bytes, base64' })
  @IsOptional()
  @IsString({ message: 'output_base64 must be a string' })
  @MaxLength(MAX_OUTPUT_CHUNK_BASE64, { message: `output_base64 must hold at most ${MAX_OUTPUT_CHUNK} bytes` })
  @IsBase64(undefined, { message: 'output_base64 must be base64' })
  output_base64?: string;

  @ApiPropertyOptional({ description: "byte offset of output_base64's first byte in the run's output (needed with output)" })
  @ValidateIf((o: RunResultDto) => o.output_offset !== undefined || Boolean(o.output_base64))
  @IsInt({ message: 'output_offset must be a whole number (the byte offset of output_base64)' })
  @Min(0, { message: 'output_offset must be 0 or more' })
  output_offset?: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean({ message: 'truncated must be true or false' })
  truncated?: boolean;
}

export class ReportDto {
  @ApiPropertyOptional({ description: 'an id the worker gives this report; the same report sent again (same id) gets the same answer and changes nothing' })
  @IsOptional()
  @IsString({ message: 'report_id must be a string' })
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'report_id must be 1 to 64 letters, digits, _ or -' })
  report_id?: string;

  @ApiPropertyOptional({
    description:
      'true on the first try of this report_id: the service does not look for a kept answer (none can exist). A first try that arrives after a later one is answered like the later one',
  })
  @IsOptional()
  @IsBoolean({ message: 'first_try must be true or false' })
  first_try?: boolean;

  @ApiProperty({ type: [RunResultDto] })
  @IsArray({ message: 'results must be an array' })
  @ArrayMaxSize(MAX_CONCURRENCY)
  @ValidateNested({ each: true })
  @Type(() => RunResultDto)
  results: RunResultDto[];

  @ApiPropertyOptional({ type: [RunRefDto], description: 'claimed jobs the worker will not run (it is stopping)' })
  @IsOptional()
  @IsArray({ message: 'released must be an array' })
  @ArrayMaxSize(MAX_CONCURRENCY)
  @ValidateNested({ each: true })
  @Type(() => RunRefDto)
  released?: RunRefDto[];

  @ApiPropertyOptional({ description: 'claim up to this many next jobs in the same request', default: 0 })
  @IsOptional()
  @IsInt({ message: 'claim must be a whole number' })
  @Min(0, { message: 'claim must be 0 or more' })
  @Max(MAX_CONCURRENCY, { message: `claim must be at most ${MAX_CONCURRENCY}` })
  claim?: number;

  @ServedQueues()
  queues?: string[];
}

export class StartWorkersDto {
  @ApiProperty({ description: 'worker processes to start in the service', example: 2 })
  @IsInt({ message: 'count must be a whole number' })
  @Min(1, { message: 'count must be 1 or more' })
  @Max(64, { message: 'count must be at most 64' })
  count: number;
}

export class StopWorkersDto {
  @ApiPropertyOptional({ description: 'stop only this worker; default: all' })
  @IsOptional()
  @IsString({ message: 'id must be a string' })
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'id must be a worker id' })
  id?: string;
}
