import { Inject, Injectable } from '@nestjs/common';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Clock } from '../common/clock';
import { DomainError, JobsRunning, StorageUnavailable } from '../common/domain-errors';
import { REPLICA } from '../common/replica';
import { ConfigService } from '../config/config.service';
import { SqlDatabase } from '../database/sql';
import { ENV, Env } from '../env/env';
import { JobsService } from '../jobs/jobs.service';
import { WorkersRepository } from '../workers/workers.repository';
import { ensureDirectory } from '../common/directories';

export const SHUTDOWN = Symbol('SHUTDOWN');
const READY_WITHIN_MS = 2000;
export type ShutdownHook = () => void;

@Injectable()
export class ServerService {
  private readonly bootedAt: number;

  constructor(
    private readonly db: SqlDatabase,
    private readonly jobs: JobsService,
    private readonly workers: WorkersRepository,
    private readonly config: ConfigService,
    private readonly clock: Clock,
    @Inject(ENV) private readonly env: Env,
    @Inject(SHUTDOWN) private readonly requestShutdown: ShutdownHook,
  ) {
    this.bootedAt = clock.now();
  }

  health() {
    return { status: 'ok', pid: process.pid, replica: REPLICA, uptime_seconds: Math.round((this.clock.now() - this.bootedAt) / 1000) };
  }

  /**
   * Ready when the database answers a query within READY_WITHIN_MS: a replica whose database is
   * gone or stalled should get no traffic, while its liveness (health) holds so it is not killed
   * for its database's sake.
   */
  async ready(): Promise<{ status: 'ready' }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StorageUnavailable(`no answer within ${READY_WITHIN_MS} ms`)), READY_WITHIN_MS);
    });
    try {
      await Promise.race([this.db.probe(), late]);
      return { status: 'ready' };
    } finally {
      clearTimeout(timer);
    }
  }

  async status() {
    const freshAfter = this.clock.now() - this.config.get('lease-timeout') * 1000;
    const [counts, active] = await Promise.all([this.jobs.counts(), this.workers.countLive(freshAfter)]);
    return {
      counts,
      total: Object.values(counts).reduce((a, b) => a + b, 0),
      workers: { active },
    };
  }

  /**
   * Copies the database with VACUUM INTO (a consistent snapshot), then deletes every job. Both
   * happen in one exclusive turn: a write queued while the copy is made would otherwise commit
   * after the copy and be deleted with the rest, an acknowledged job kept nowhere.
   *
   * Refused (JobsRunning, nothing changed) while any job is processing: its command runs on a
   * worker the service cannot stop at once, and would run on beside a new job of the same id.
   * Fencing values come from run_sequence, which reset keeps, so even a leftover run's messages
   * could not touch a new job; refusing also keeps its command from running unowned.
   */
  async reset(): Promise<{ backup: string; deleted: number }> {
    // A copy of the database a replica could write to its own disk would be one replica's file
    // of everyone's queue; PostgreSQL has its own backups (pg_dump, base backups) for that.
    if (this.db.dialect === 'postgres') {
      throw new DomainError(
        'invalid_state',
        'reset is for the embedded SQLite queue; on PostgreSQL back up the database with pg_dump, then delete jobs with `queuectl purge`',
      );
    }
    const dir = join(this.env.home, 'backups');
    ensureDirectory(dir);
    const stamp = new Date(this.clock.now()).toISOString().replace(/[:.]/g, '-');
    // Two resets within one millisecond must not collide: VACUUM INTO refuses an existing file.
    let backup = join(dir, `queue-${stamp}.db`);
    for (let n = 2; existsSync(backup); n++) backup = join(dir, `queue-${stamp}-${n}.db`);
    const deleted = await this.db.exclusive(async (sql) => {
      const running = await sql.rows<{ id: string }>(`SELECT id FROM jobs WHERE state = 'processing' ORDER BY started_at LIMIT 6`);
      if (running.length > 0) throw new JobsRunning(running.map((r) => r.id));
      try {
        await sql.run('VACUUM INTO ?', [backup]);
        chmodSync(backup, 0o600);
      } catch (e) {
        // A copy cut short (the disk filled up) is no backup: leave none rather than a file
        // that looks like one, nor the journal SQLite leaves beside it. Nothing is deleted yet.
        for (const file of [backup, `${backup}-journal`]) rmSync(file, { force: true });
        throw e;
      }
      // Each DELETE is atomic on its own (attempts go by cascade, counts by trigger).
      const n = await sql.run('DELETE FROM jobs');
      await sql.run('DELETE FROM workers WHERE stopped_at IS NOT NULL');
      return n;
    });
    return { backup, deleted };
  }

  shutdown() {
    // Answer first; the hook closes the server after the response is flushed.
    setImmediate(() => this.requestShutdown());
    return { status: 'stopping' };
  }
}
