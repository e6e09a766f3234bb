import { Injectable } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Notifications } from '../database/notifications';
import { Sql } from '../database/sql';

/**
 * Notifications about jobs: "work may be due" wakes waiting claim long-polls at once, "job
 * changed" feeds live views. Raised by the unit of work that made the change (Sql.announce): heard
 * here once it commits and, on PostgreSQL, by the other replicas through the same commit
 * (Notifications). Losing a signal is harmless: waiters also poll.
 */
@Injectable()
export class JobSignals {
  private readonly emitter = new EventEmitter();

  constructor(replicas: Notifications) {
    this.emitter.setMaxListeners(0);
    replicas.subscribe('work', () => this.emitter.emit('work'));
    replicas.subscribe('job', (id) => this.emitter.emit('job', id));
  }

  /** Raised in `sql`, the unit of work that made a job due (or a slot free). */
  workAvailable(sql: Sql): void {
    sql.announce('work', '', () => this.emitter.emit('work'));
  }

  onWorkAvailable(listener: () => void): () => void {
    this.emitter.on('work', listener);
    return () => this.emitter.off('work', listener);
  }

  /** Raised in `sql`, the unit of work that changed job `id`. */
  jobChanged(sql: Sql, id: string): void {
    sql.announce('job', id, () => this.emitter.emit('job', id));
  }

  onJobChanged(listener: (id: string) => void): () => void {
    this.emitter.on('job', listener);
    return () => this.emitter.off('job', listener);
  }
}
