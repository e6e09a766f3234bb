import { join } from 'node:path';
import { postgresUrlOf } from './support/database';
import { CLI, RunningService, api, removeHome, startService, tempHome, waitFor } from './support/harness';
import { mostAtOnce, timedCommand, timedRuns } from './support/queue-runs';
import { enqueue, killAllWorkers, pidFrom, setConfig, startWorker, waitForState, waitForWorkers } from './support/workers';

/**
 * A queue's limit across three `queuectl serve` replicas on one PostgreSQL database, each with a
 * worker of its own: claims on all three race for the queue's slots (SKIP LOCKED for the jobs,
 * the queue's row lock for the count), and a SIGKILLed worker's job keeps its slot until the
 * reaper (on whichever replica leads) returns it.
 */
describe('queue limits across replicas', () => {
  let homes: string[] = [];
  let replicas: RunningService[] = [];

  beforeEach(async () => {
    homes = [tempHome('queuectl-qrep-'), tempHome('queuectl-qrep-'), tempHome('queuectl-qrep-')];
    const url = postgresUrlOf(homes[0]);
    replicas = [];
    // The first creates the schema; the others join it.
    for (const home of homes) replicas.push(await startService(home, { QUEUECTL_DATABASE_URL: url }, ['serve'], CLI));
  });
  afterEach(async () => {
    await killAllWorkers();
    for (const r of replicas) await r.stop();
    // The schema is named after the first home: drop it last.
    for (const home of [...homes].reverse()) removeHome(home);
  });

  it('at most N jobs of a limited queue run at once, with a worker on each of three replicas', async () => {
    const [a, b, c] = replicas;
    expect((await api(a, 'PATCH', '/api/queues/pair', { concurrency: 2 })).status).toBe(200);
    const marker = join(homes[0], 'marker');
    // One slot a worker, three workers for the queue's two slots: a worker that reports claims
    // its next job in the same trip, so a worker with slots to spare could keep both of the
    // queue's slots to the end. With one slot each, two jobs at once means two workers at once,
    // and the third proves the limit holds across replicas, not the workers' own sizes.
    for (const home of homes) startWorker(home, ['--count', '1']);
    await waitForWorkers(a, 3);
    for (let i = 0; i < 12; i++) await enqueue([a, b, c][i % 3], { id: `pair-${i}`, queue: 'pair', command: timedCommand(marker, 'pair', 0.3) });
    await waitFor(async () => (await api(b, 'GET', '/api/queues/pair')).body.counts.completed === 12, 60_000, 'all 12 jobs to complete');
    const runs = timedRuns(marker);
    expect(runs).toHaveLength(12);
    expect(mostAtOnce(runs)).toBe(2);
    // More than one replica's worker took part.
    const workers = new Set<string>();
    for (let i = 0; i < 12; i++) workers.add((await api(c, 'GET', `/api/jobs/pair-${i}`)).body.worker_id);
    expect(workers.size).toBeGreaterThan(1);
  });

  it('a SIGKILLed worker’s job holds the slot until the reaper returns it', async () => {
    const [a, b, c] = replicas;
    await setConfig(a, 'heartbeat-interval', 0.5);
    await setConfig(a, 'lease-timeout', 2);
    await api(a, 'PATCH', '/api/queues/solo', { concurrency: 1, backoff_base: 1 });
    const first = startWorker(homes[0], ['--count', '2']);
    await waitForWorkers(a, 1);
    const flag = join(homes[0], 'ran');
    await enqueue(a, { id: 'victim', queue: 'solo', command: `if [ -e '${flag}' ]; then true; else touch '${flag}'; echo $$ > '${homes[0]}/pid'; sleep 60; fi` });
    await pidFrom(join(homes[0], 'pid'));
    for (let i = 0; i < 3; i++) await enqueue([b, c][i % 2], { id: `next-${i}`, queue: 'solo', command: 'sleep 0.2' });
    startWorker(homes[1], ['--count', '2']);
    startWorker(homes[2], ['--count', '2']);
    await waitForWorkers(a, 3);
    first.signalGroup('SIGKILL');
    await first.exited;

    for (let i = 0; i < 3; i++) await waitForState(c, `next-${i}`, 'completed', 30_000);
    const victim = await waitForState(b, 'victim', 'completed', 30_000);
    expect(victim.runs[0].error).toBe('worker lost');
    const runs = [victim];
    for (let i = 0; i < 3; i++) runs.push((await api(a, 'GET', `/api/jobs/next-${i}`)).body);
    const intervals = runs.flatMap((j) => j.runs.map((r: { started_at: string; finished_at: string }) => ({ queue: 'solo', id: j.id, start: Date.parse(r.started_at), end: Date.parse(r.finished_at) })));
    expect(mostAtOnce(intervals)).toBe(1);
  });
});
