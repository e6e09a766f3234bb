import { Injectable } from '@nestjs/common';
import { EventEmitter } from 'node:events';

/**
 * In-process notifications about jobs: "work may be due" wakes waiting claim long-polls at
 * once, "job changed" feeds live views. Losing a signal is harmless: waiters also poll.
 */
@Injectable()
export class JobSignals {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  workAvailable(): void {
    this.emitter.emit('work');
  }

  onWorkAvailable(listener: () => void): () => void {
    this.emitter.on('work', listener);
    return () => this.emitter.off('work', listener);
  }

  jobChanged(id: string): void {
    this.emitter.emit('job', id);
  }

  onJobChanged(listener: (id: string) => void): () => void {
    this.emitter.on('job', listener);
    return () => this.emitter.off('job', listener);
  }
}
