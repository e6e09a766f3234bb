import { setTimeout as sleep } from 'node:timers/promises';
import { leaseBudget } from '../src/common/lease-budget';
import { ConfigService } from '../src/config/config.service';
import { SqlDatabase } from '../src/database/sql';
import { JobRunsService } from '../src/jobs/job-runs.service';
import { JobsService } from '../src/jobs/jobs.service';
import { LeaseReaper } from '../src/workers/lease-reaper';
import { ManualClock } from './support/manual-clock';
import { TestApp, createTestApp } from './support/test-app';

/**
 * The service's sense of time under faults: a jump of its wall clock, and a database stall
 * longer than the lease. Neither may recover a job whose worker kept heartbeating.
 */
describe('service time under faults', () => {
  describe('a forward jump of the wall clock', () => {
    let t: TestApp;
    const clock = new ManualClock();

    beforeAll(async () => {
      t = await createTestApp({ clock });
    });
    afterAll(() => t.close());

    it('recovers nothing whose worker is still within its lease; the monotonic clock decides', async () => {
      const jobs = t.app.get(JobsService);
      const runs = t.app.get(JobRunsService);
      const reaper = t.app.get(LeaseReaper);
      const lease = t.app.get(ConfigService).get('lease-timeout') * 1000;
      clock.advance(2 * lease);
      await jobs.enqueue({ id: 'jump', command: 'sleep 60' });
      const [claimed] = await runs.claim('w-jump', 1);
      expect(claimed.id).toBe('jump');

      // NTP (or an operator) sets the wall clock a minute ahead: every stored expiry looks past.
      clock.jumpWall(60_000);
      expect(await reaper.sweep()).toBe(0);
      expect((await jobs.show('jump')).state).toBe('processing');

      // A heartbeat renews the lease at the new wall time; then real time passes with no more.
      expect(await runs.heartbeat([{ id: 'jump', lease: claimed.lease }])).toEqual({ cancel: [], lost: [] });
      const { reapGraceMs } = leaseBudget(lease);
      clock.advance(lease + reapGraceMs - 1);
      expect(await reaper.sweep()).toBe(0);
      clock.advance(2);
      expect(await reaper.sweep()).toBe(1);
      const shown = await jobs.show('jump');
      expect({ state: shown.state, last_error: shown.last_error }).toEqual({ state: 'failed', last_error: 'worker lost' });
    });
  });

  describe('a database stall longer than the lease', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await createTestApp();
    });
    afterAll(() => t.close());

    it('recovers nothing whose worker kept heartbeating: expiries are taken when the write runs', async () => {
      const config = t.app.get(ConfigService);
      await config.set('heartbeat-interval', 0.25);
      await config.set('lease-timeout', 1);
      const db = t.app.get(SqlDatabase);
      const jobs = t.app.get(JobsService);
      const runs = t.app.get(JobRunsService);
      await jobs.enqueue({ id: 'stalled', command: 'sleep 60' });
      const [claimed] = await runs.claim('w-stall', 1);

      // The disk stalls for 3 s while a write (an enqueue) is being committed; writes that come
      // meanwhile wait in the queue behind it.
      let stallThis = false;
      let stalls = 0;
      db.stallBeforeCommit = async () => {
        if (!stallThis) return;
        stallThis = false;
        stalls++;
        await sleep(3000);
      };
      // A worker as the real one beats: one heartbeat at a time, the next a pause after the
      // answer. Past the start-up grace (2 s), right after an answer, the stall begins.
      const lost: string[] = [];
      let stalled: Promise<unknown> | undefined;
      for (let i = 0; i < 16; i++) {
        const answer = await runs.heartbeat([{ id: 'stalled', lease: claimed.lease }]);
        lost.push(...answer.lost);
        if (i === 4) {
          stalled = db.write(async (sql) => {
            stallThis = true;
            return sql.run(`UPDATE settings SET key = key WHERE key = 'lease-timeout'`);
          });
        }
        await sleep(450);
      }
      await stalled;
      db.stallBeforeCommit = undefined;

      expect(stalls).toBeGreaterThan(0);
      expect(lost).toEqual([]);
      const shown = await jobs.show('stalled');
      expect({ state: shown.state, attempts: shown.attempts, runs: shown.runs.map((r) => r.run) }).toEqual({
        state: 'processing',
        attempts: 1,
        runs: [claimed.lease],
      });
    });
  });
});
