import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner } from './command-runner';
import { ServiceUnreachable } from '../http';
import { CallOptions, ClaimAnswer, ClaimedJob, HeartbeatAnswer, OutputChunk, Registration, ReportAnswer, RunRef, RunResult, WorkerApi } from './worker-api';
import { WorkerLoop } from './worker-loop';

/**
 * The worker loop against an in-memory service that keeps jobs the way the real one does
 * (claims take due jobs in order and bump the lease; reports and releases are fenced by it),
 * running real shell commands.
 */
class MemoryService implements WorkerApi {
  pending: Array<{ id: string; command: string }> = [];
  leases = new Map<string, number>();
  held = new Set<string>();
  results: RunResult[] = [];
  released: string[] = [];
  stopAsked = false;
  lost = new Set<string>();
  outputLimit = 1024;
  /** Output as the real service keeps it: each chunk at its byte offset, bytes already held skipped. */
  stored = new Map<string, Buffer>();
  outputCalls = 0;
  /** Of every three output messages, one is stored but its answer lost, one is lost, one goes through. */
  failOutput = false;
  private wakers: Array<() => void> = [];

  add(id: string, command: string): void {
    this.pending.push({ id, command });
    for (const w of this.wakers.splice(0)) w();
  }

  async register(): Promise<Registration> {
    return { id: 'w-test', heartbeat_interval_ms: 50, lease_timeout_ms: 1000, output_limit_bytes: this.outputLimit };
  }

  async claim(limit: number, waitMs: number): Promise<ClaimAnswer> {
    const deadline = Date.now() + waitMs;
    while (this.pending.length === 0 && !this.stopAsked && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wakers.push(resolve);
        setTimeout(resolve, Math.min(50, deadline - Date.now()));
      });
    }
    return { jobs: this.stopAsked ? [] : this.take(limit), stop: this.stopAsked };
  }

  async report(results: RunResult[], released: RunRef[], claim: number): Promise<ReportAnswer> {
    const refused: string[] = [];
    for (const r of results) {
      if (this.leases.get(r.id) !== r.lease || !this.held.has(r.id)) refused.push(r.id);
      else {
        this.held.delete(r.id);
        this.results.push(r);
        this.store(r.id, r.output_offset, Buffer.from(r.output_base64, 'base64'));
      }
    }
    for (const r of released) {
      if (this.leases.get(r.id) !== r.lease || !this.held.has(r.id)) continue;
      this.held.delete(r.id);
      this.released.push(r.id);
      this.pending.unshift({ id: r.id, command: `echo again ${r.id}` });
    }
    return { refused, jobs: this.stopAsked ? [] : this.take(claim), stop: this.stopAsked };
  }

  async heartbeat(running: RunRef[]): Promise<HeartbeatAnswer> {
    return {
      stop: this.stopAsked,
      cancel: [],
      lost: running.filter((r) => this.lost.has(r.id)).map((r) => r.id),
      heartbeat_interval_ms: 50,
      lease_timeout_ms: 1000,
      output_limit_bytes: this.outputLimit,
    };
  }

  async output(chunks: OutputChunk[]): Promise<{ refused: string[] }> {
    const call = ++this.outputCalls;
    if (this.failOutput && call % 3 === 2) throw new ServiceUnreachable('the message was lost');
    for (const c of chunks) this.store(c.id, c.offset, Buffer.from(c.data_base64, 'base64'));
    if (this.failOutput && call % 3 === 1) throw new ServiceUnreachable('the answer was lost');
    return { refused: [] };
  }

  private store(id: string, offset: number, data: Buffer): void {
    const have = this.stored.get(id) ?? Buffer.alloc(0);
    if (offset > have.length) throw new Error(`a gap in the output of ${id}: ${have.length} bytes held, a chunk at ${offset}`);
    this.stored.set(id, Buffer.concat([have, data.subarray(have.length - offset)]));
  }

  async stopping(_options?: CallOptions): Promise<void> {
    this.stopAsked = true;
    for (const w of this.wakers.splice(0)) w();
  }

  async deregister(): Promise<void> {}

  private take(limit: number): ClaimedJob[] {
    return this.pending.splice(0, limit).map((j) => {
      const lease = (this.leases.get(j.id) ?? 0) + 1;
      this.leases.set(j.id, lease);
      this.held.add(j.id);
      return { id: j.id, command: j.command, lease, attempt: lease, max_retries: 3, timeout_seconds: null };
    });
  }
}

describe('WorkerLoop', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'queuectl-loop-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const loopFor = (service: MemoryService, concurrency: number, now?: () => number) =>
    new WorkerLoop(service, new CommandRunner(undefined, 200), {
      now,
      concurrency,
      idleTimeoutMs: null,
      hostname: 'test',
      pid: process.pid,
      verbose: false,
      log: () => undefined,
      environment: (job) => ({ PATH: '/usr/bin:/bin', JOB: job.id }),
    });

  // On the monotonic clock: a spec below steps the wall clock (Date.now) back an hour.
  const until = async (predicate: () => boolean, ms = 15_000) => {
    const deadline = performance.now() + ms;
    while (!predicate()) {
      if (performance.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('runs every job once and never more than `concurrency` at a time, short jobs and long ones', async () => {
    const service = new MemoryService();
    // Each command counts the commands running with it (a directory entry each) while it runs.
    const running = join(dir, 'running');
    const counts = join(dir, 'counts');
    for (let i = 0; i < 40; i++) {
      const pause = i % 10 === 0 ? '0.3' : '0';
      service.add(`j${i}`, `mkdir -p "${running}"; touch "${running}/$JOB"; ls "${running}" | wc -l >> "${counts}"; sleep ${pause}; rm "${running}/$JOB"`);
    }
    const loop = loopFor(service, 3);
    const done = loop.run();
    await until(() => service.results.length === 40);
    loop.stop('test over');
    expect(await done).toBe(0);
    expect(new Set(service.results.map((r) => r.id)).size).toBe(40);
    expect(service.results.filter((r) => r.exit_code !== 0)).toEqual([]);
    const seen = readFileSync(counts, 'utf8').trim().split('\n').map(Number);
    expect(Math.max(...seen)).toBeLessThanOrEqual(3);
    expect(Math.max(...seen)).toBeGreaterThan(1);
    // Spares claimed ahead went back untouched or ran: nothing is left held.
    expect(service.held.size).toBe(0);
  });

  it('on stop claims nothing more, lets the running job finish and hands back what it had not started', async () => {
    const service = new MemoryService();
    service.add('slow', `sleep 0.5; echo done > '${dir}/slow'`);
    const loop = loopFor(service, 1);
    const done = loop.run();
    await until(() => service.held.has('slow'));
    await new Promise((r) => setTimeout(r, 100));
    loop.stop('test');
    service.add('next', 'true');
    expect(await done).toBe(0);
    expect(readFileSync(join(dir, 'slow'), 'utf8')).toBe('done\n');
    expect(service.results.map((r) => r.id)).toEqual(['slow']);
    expect(service.pending.map((j) => j.id)).toEqual(['next']);
    expect(service.held.size).toBe(0);
  });

  it('hands back unstarted a spare whose lease may have ended before a slot was free (its worker was stopped meanwhile)', async () => {
    const service = new MemoryService();
    service.add('first', 'sleep 0.15');
    service.add('late', `touch '${dir}/late-ran'`);
    // The first claim answers one job more than the free slot: a spare, as prefetching gets.
    let clock = 0;
    const claim = service.claim.bind(service);
    let claims = 0;
    service.claim = async (limit, waitMs) => {
      const answer = await claim(++claims === 1 ? limit + 1 : limit, waitMs);
      // Then the monotonic clock moves a minute on while `first` runs, as across a SIGSTOP.
      if (claims === 1) setTimeout(() => (clock = 60_000), 30);
      return answer;
    };
    const loop = loopFor(service, 1, () => clock);
    const done = loop.run();
    await until(() => service.results.some((r) => r.id === 'late'));
    loop.stop('test');
    expect(await done).toBe(0);
    expect(service.released).toEqual(['late']);
    expect(existsSync(join(dir, 'late-ran'))).toBe(false);
    // Claimed again afresh, it ran as the service gave it then.
    expect(service.results.find((r) => r.id === 'late')).toMatchObject({ lease: 2, exit_code: 0 });
  });

  it('hands a held spare back after the hold even when the wall clock steps back an hour meanwhile', async () => {
    const service = new MemoryService();
    // `first` holds the only slot past the lease (1 s): the spare can only go back, by the hold
    // (250 ms) or, later, by the lease check, which says so in the log.
    service.add('first', 'sleep 2');
    service.add('spare', `touch '${dir}/spare-ran'`);
    const claim = service.claim.bind(service);
    let claims = 0;
    const realNow = Date.now.bind(Date);
    const wall = jest.spyOn(Date, 'now');
    service.claim = async (limit, waitMs) => {
      const answer = await claim(++claims === 1 ? limit + 1 : limit, waitMs);
      // The claim is answered, then NTP (or an admin) sets the clock back an hour.
      if (claims === 1) setTimeout(() => wall.mockImplementation(() => realNow() - 3_600_000), 30);
      return answer;
    };
    const lines: string[] = [];
    const loop = new WorkerLoop(service, new CommandRunner(undefined, 200), {
      concurrency: 1,
      idleTimeoutMs: null,
      hostname: 'test',
      pid: process.pid,
      verbose: false,
      log: (line) => lines.push(line),
      environment: (job) => ({ PATH: '/usr/bin:/bin', JOB: job.id }),
    });
    try {
      const done = loop.run();
      await until(() => service.released.includes('spare') || service.results.length > 0);
      loop.stop('test');
      expect(await done).toBe(0);
    } finally {
      wall.mockRestore();
    }
    expect(service.released).toEqual(['spare']);
    expect(lines.filter((l) => l.includes('lease may have ended'))).toEqual([]);
    expect(existsSync(join(dir, 'spare-ran'))).toBe(false);
  });

  it('stops the command of a run whose lease the service says is lost, and does not report it', async () => {
    const service = new MemoryService();
    service.add('taken', `echo $$ > '${dir}/pid'; sleep 30`);
    const loop = loopFor(service, 1);
    const done = loop.run();
    await until(() => {
      try {
        return Number(readFileSync(join(dir, 'pid'), 'utf8')) > 0;
      } catch {
        return false;
      }
    });
    service.lost.add('taken');
    await until(() => {
      try {
        process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')), 0);
        return false;
      } catch {
        return true;
      }
    });
    loop.stop('test');
    expect(await done).toBe(0);
    expect(service.results).toEqual([]);
  });

  it('sends output as bytes at their offsets: a lost message is sent again, one whose answer was lost is kept once', async () => {
    const service = new MemoryService();
    service.failOutput = true;
    service.outputLimit = 1024 * 1024;
    // NUL, a byte that is not UTF-8, and a 4-byte character split across two writes.
    service.add('bytes', `printf 'a\\000b\\377'; sleep 0.4; printf '\\360\\237'; sleep 0.4; printf '\\232\\200 c'; sleep 0.4; printf 'end'; sleep 0.4; printf '\\n'`);
    const loop = loopFor(service, 1);
    const done = loop.run();
    await until(() => service.results.length === 1);
    loop.stop('test over');
    expect(await done).toBe(0);
    expect(service.stored.get('bytes')).toEqual(Buffer.concat([Buffer.from([0x61, 0, 0x62, 0xff]), Buffer.from('🚀 cend\n')]));
    // Output went out while the command ran, and some messages were sent again.
    expect(service.outputCalls).toBeGreaterThanOrEqual(4);
  });

  it('keeps only the output limit, in bytes, and says the rest was cut', async () => {
    const service = new MemoryService();
    service.add('flood', `head -c 5000 /dev/zero | tr '\\0' '\\377'`);
    const loop = loopFor(service, 1);
    const done = loop.run();
    await until(() => service.results.length === 1);
    loop.stop('test over');
    expect(await done).toBe(0);
    expect(service.stored.get('flood')).toEqual(Buffer.alloc(1024, 0xff));
    expect(service.results[0].truncated).toBe(true);
  });

  it('kill() ends running commands at once and reports them as interrupted', async () => {
    const service = new MemoryService();
    service.add('long', 'sleep 30');
    const loop = loopFor(service, 1);
    const done = loop.run();
    await until(() => service.held.has('long'));
    await new Promise((r) => setTimeout(r, 100));
    loop.stop('first signal');
    loop.kill('second signal');
    expect(await done).toBe(1);
    expect(service.results).toHaveLength(1);
    expect(service.results[0]).toMatchObject({ id: 'long', error: 'interrupted: worker stopped', signal: 'SIGTERM' });
  });
});
