/**
 * Preloaded into a service by bench/sqlite-trips.ts (`node -r`): counts the calls into
 * node-sqlite3, each a trip from the event loop to its thread and back, by statement, and writes
 * the counts to $QUEUECTL_TRIPS_OUT (then starts over) on SIGUSR2.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { hookSqlite } from './sqlite-hook';

const counts = new Map<string, number>();
hookSqlite((sql) => {
  const key = sql.replace(/\s+/g, ' ').trim().slice(0, 100);
  counts.set(key, (counts.get(key) ?? 0) + 1);
});

process.on('SIGUSR2', () => {
  const lines = [...counts].sort((a, b) => b[1] - a[1]).map(([sql, n]) => `${n}\t${sql}`);
  counts.clear();
  // Whole or not at all: the benchmark reads the file once it exists.
  const out = process.env.QUEUECTL_TRIPS_OUT!;
  writeFileSync(`${out}.part`, lines.join('\n') + '\n');
  renameSync(`${out}.part`, out);
});
