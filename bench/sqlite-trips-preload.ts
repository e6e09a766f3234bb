/**
 * Preloaded into a service by bench/sqlite-trips.ts (`node -r`): counts the calls into
 * node-sqlite3, each a trip from the event loop to its thread and back, by statement, and writes
 * the counts to $QUEUECTL_TRIPS_OUT (then starts over) on SIGUSR2. A statement run through the
 * database object (`db.run(sql)`) is counted once, not again for the statement object the
 * driver makes for it.
 */
import { writeFileSync } from 'node:fs';
import sqlite3 from 'sqlite3';

const counts = new Map<string, number>();
const texts = new WeakMap<object, string>();
const count = (sql: string) => {
  const key = sql.replace(/\s+/g, ' ').trim().slice(0, 100);
  counts.set(key, (counts.get(key) ?? 0) + 1);
};

type Method = (this: object, ...args: unknown[]) => unknown;
const db = sqlite3.Database.prototype as unknown as Record<string, Method>;
const statement = sqlite3.Statement.prototype as unknown as Record<string, Method>;
const prepare = db.prepare;
db.prepare = function (this: object, ...args: unknown[]) {
  const made = prepare.apply(this, args) as object;
  texts.set(made, String(args[0]));
  return made;
};
for (const name of ['run', 'all', 'get', 'exec', 'each']) {
  const onDb = db[name];
  db[name] = function (this: object, ...args: unknown[]) {
    count(String(args[0]));
    return onDb.apply(this, args);
  };
  const onStatement = statement[name];
  if (typeof onStatement !== 'function') continue;
  statement[name] = function (this: object, ...args: unknown[]) {
    const sql = texts.get(this);
    if (sql !== undefined) count(sql);
    return onStatement.apply(this, args);
  };
}

process.on('SIGUSR2', () => {
  const lines = [...counts].sort((a, b) => b[1] - a[1]).map(([sql, n]) => `${n}\t${sql}`);
  counts.clear();
  writeFileSync(process.env.QUEUECTL_TRIPS_OUT!, lines.join('\n') + '\n');
});
