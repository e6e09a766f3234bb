import { Injectable } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Notifications } from '../database/notifications';

/**
 * Notifications about jobs: "work may be due" wakes waiting claim long-polls at once, "job
 * changed" feeds live views. Raised in this process and, on PostgreSQL, passed to and heard from
 * the other replicas (Notifications). Losing a signal is harmless: waiters also poll.
 */
@Injectable()
export class JobSignals {
  private readonly emitter = new EventEmitter();

  constructor(private readonly replicas: Notifications) {
    this.emitter.setMaxListeners(0);
    replicas.subscribe('work', () => this.emitter.emit('work'));
    replicas.subscribe('job', (id) => this.emitter.emit('job', id));
  }

  workAvailable(): void {
    this.emitter.emit('work');
    this.replicas.publish('work');
  }

  onWorkAvailable(listener: () => void): () => void {
    this.emitter.on('work', listener);
    return () => this.emitter.off('work', listener);
  }

  jobChanged(id: string): void {
    this.emitter.emit('job', id);
    this.replicas.publish('job', id);
  }

  onJobChanged(listener: (id: string) => void): () => void {
    this.emitter.on('job', listener);
    return () => this.emitter.off('job', listener);
  }
}
