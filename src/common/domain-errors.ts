/**
 * Errors a service throws when a request cannot be carried out. Each carries a code; the
 * transports (REST filter, dashboard) map codes to statuses through one exhaustive table.
 */
export type ErrorCode =
  | 'invalid_input'
  | 'unauthorized'
  | 'not_found'
  | 'duplicate_job'
  | 'invalid_state'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'wrong_host'
  | 'too_many_attempts'
  | 'storage_unavailable'
  | 'internal'
  // Schedules and idempotent enqueue.
  | 'duplicate_schedule'
  | 'idempotency_conflict';

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export class InvalidInput extends DomainError {
  constructor(message: string, details?: unknown) {
    super('invalid_input', message, details);
  }
}

/** More than the service takes in one request, told before any of it is looked at. */
export class PayloadTooLarge extends DomainError {
  constructor(message: string) {
    super('payload_too_large', message);
  }
}

export class JobNotFound extends DomainError {
  constructor(id: string) {
    super('not_found', `job "${id}" not found`);
  }
}

export class WorkerNotFound extends DomainError {
  constructor(id: string) {
    super('not_found', `worker "${id}" not found`);
  }
}

export class QueueNotFound extends DomainError {
  constructor(name: string) {
    super('not_found', `queue "${name}" not found (it has no jobs and no settings)`);
  }
}

export class DuplicateJob extends DomainError {
  constructor(ids: string[]) {
    super(
      'duplicate_job',
      ids.length === 1 ? `a job with id "${ids[0]}" already exists` : `${ids.length} job ids already exist: ${ids.slice(0, 5).join(', ')}`,
      { ids },
    );
  }
}

export class InvalidTransition extends DomainError {
  constructor(id: string, state: string, action: string) {
    super('invalid_state', `job "${id}" is ${state}; cannot ${action}`, { id, state });
  }
}

/** Deleting every job while some run would leave their commands running with nobody to stop them. */
export class JobsRunning extends DomainError {
  constructor(ids: string[]) {
    super(
      'invalid_state',
      `${ids.length} job(s) are running (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}); cannot reset while jobs run: stop the workers (queuectl worker stop) or wait for them, then reset`,
      { ids },
    );
  }
}

export class StorageUnavailable extends DomainError {
  constructor(cause: string) {
    super('storage_unavailable', `storage unavailable: ${cause}`);
  }
}

// Job flows (`after`): what enqueue and retry refuse about dependencies.

export class DependencyNotFound extends DomainError {
  constructor(id: string) {
    super('not_found', `after: job "${id}" not found`, { id });
  }
}

export class DependencyCycle extends DomainError {
  constructor(cycle: string[]) {
    const shown = cycle.length <= 12 ? cycle.join(' -> ') : `${cycle.slice(0, 10).join(' -> ')} -> … (${cycle.length - 1} jobs)`;
    super('invalid_input', `after: dependency cycle ${shown}`, { cycle: cycle.slice(0, 1000) });
  }
}

/** Retrying a job from the DLQ while a job it waits on is still dead would only kill it again. */
export class DependencyDead extends DomainError {
  constructor(id: string, dependency: string) {
    super('invalid_state', `job "${id}" waits on "${dependency}", which is dead: retry "${dependency}" first (queuectl dlq retry ${dependency})`, { id, dependency });
  }
}

export class ScheduleNotFound extends DomainError {
  constructor(name: string) {
    super('not_found', `schedule "${name}" not found`);
  }
}

export class DuplicateSchedule extends DomainError {
  constructor(name: string) {
    super('duplicate_schedule', `a schedule named "${name}" already exists (remove it first to replace it)`, { name });
  }
}

/** An Idempotency-Key sent again with another request than the one it first came with. */
export class IdempotencyConflict extends DomainError {
  constructor(key: string) {
    super('idempotency_conflict', `Idempotency-Key ${JSON.stringify(key)} was used for a different request in the last 24 h; use a new key for a new request`);
  }
}
