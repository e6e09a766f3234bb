/**
 * node dist/bench/postgres-insert-parts.js [--rows 10000] [--reps 7] [--db-url URL]: what the
 * INSERT of one large batch of new jobs costs PostgreSQL, and how much of it each index of `jobs`
 * and the count trigger take.
 *
 * A fresh schema is migrated by a service (then stopped). Each rep runs every variant once, in
 * turn: in a transaction, the variant drops one index (or disables the count trigger, or drops
 * every index but the primary key), runs the statement a batch of `rows` new jobs goes in by
 * (jobInsertCounted, ids from newJobId as the service makes them) and rolls it all back. Prints
 * each variant's median time of that one round trip, and what it saves against the table as
 * deployed. Indexes a pending job does not enter (partial ones on other states) are the
 * control: they should save nothing.
 */
import { Client } from 'pg';
import { placeholders } from '../src/database/postgres-sql';
import { jobInsertCounted } from '../src/jobs/job-insert';
import type { JobRow } from '../src/jobs/job-row';
import { newJobId } from '../src/jobs/jobs.service';
import { DEFAULT_POSTGRES_URL, freshSchema } from './bench-postgres';
import { benchOption, median, startService } from './bench-support';

interface Variant {
  name: string;
  /** Statements run before the INSERT, inside its transaction. */
  setup: string[];
}

function batch(rows: number, now: number): JobRow[] {
  return Array.from(
    { length: rows },
    () =>
      ({
        id: newJobId(now),
        command: 'true',
        max_retries: 3,
        priority: 0,
        run_at: null,
        due_at: now,
        timeout_seconds: null,
        backoff_base: null,
        queue: 'default',
        cwd: null,
        env: null,
      }) as unknown as JobRow,
  );
}

async function main(): Promise<void> {
  const rows = Number(benchOption('rows', '10000'));
  const reps = Number(benchOption('reps', '7'));
  const database = freshSchema(benchOption('db-url', DEFAULT_POSTGRES_URL));
  const schema = new URL(database.url).searchParams.get('schema')!;
  const client = new Client({ connectionString: benchOption('db-url', DEFAULT_POSTGRES_URL), application_name: 'queuectl-bench-insert' });
  try {
    // The service's migrations make the schema as deployed; it is dropped however this ends.
    await (await startService(database)).stop();
    await client.connect();
    await client.query(`SET search_path = ${schema}`);
    const indexes = (await client.query<{ name: string; def: string }>(
      `SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = $1 AND tablename = 'jobs' AND indexname <> 'jobs_pkey' ORDER BY indexname`,
      [schema],
    )).rows;
    const variants: Variant[] = [
      { name: 'as deployed', setup: [] },
      ...indexes.map((i) => ({ name: `without ${i.name}`, setup: [`DROP INDEX ${i.name}`] })),
      { name: 'without any index but the key', setup: indexes.map((i) => `DROP INDEX ${i.name}`) },
      { name: 'without the count trigger', setup: ['ALTER TABLE jobs DISABLE TRIGGER jobs_count_insert'] },
    ];
    const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let rep = 0; rep < reps; rep++) {
      for (const variant of rep % 2 === 0 ? variants : [...variants].reverse()) {
        const now = Date.now();
        const [text, params] = jobInsertCounted(batch(rows, now), now);
        await client.query('BEGIN');
        try {
          for (const statement of variant.setup) await client.query(statement);
          const t0 = performance.now();
          const [answer] = (await client.query<{ n: string }>(placeholders(text), params)).rows;
          times.get(variant.name)!.push(performance.now() - t0);
          if (Number(answer.n) !== rows) throw new Error(`${answer.n} of ${rows} rows stored`);
        } finally {
          await client.query('ROLLBACK');
        }
      }
      process.stderr.write(`rep ${rep + 1} of ${reps}\n`);
    }
    const base = median(times.get('as deployed')!);
    console.log(`INSERT of ${rows} new jobs in one statement, medians of ${reps} (ms):`);
    for (const v of variants) {
      const t = median(times.get(v.name)!);
      const saves = v.name === 'as deployed' ? '' : `  saves ${(base - t).toFixed(1)}`;
      console.log(`  ${v.name.padEnd(42)} ${t.toFixed(1).padStart(7)}${saves}`);
    }
    for (const i of indexes) console.log(`  ${i.name}: ${i.def.replace(/^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING btree /, '')}`);
  } finally {
    await client.end();
    await database.drop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
