import sqlite3 from 'sqlite3';

/**
 * For the benchmarks' preloads: calls `onCall` with the statement's text whenever the event loop
 * hands a statement to node-sqlite3 (a trip to its thread and back); a function it returns runs
 * when the answer is back, before the caller's callback. A statement run through the database
 * object (`db.run(sql)`) is seen once, not again for the statement object the driver makes for it.
 */
export function hookSqlite(onCall: (sql: string) => (() => void) | void): void {
  type Method = (this: object, ...args: unknown[]) => unknown;
  const texts = new WeakMap<object, string>();
  const db = sqlite3.Database.prototype as unknown as Record<string, Method>;
  const statement = sqlite3.Statement.prototype as unknown as Record<string, Method>;
  const prepare = db.prepare;
  db.prepare = function (this: object, ...args: unknown[]) {
    const made = prepare.apply(this, args) as object;
    texts.set(made, String(args[0]));
    return made;
  };
  const traced = (sql: string, args: unknown[]): unknown[] => {
    const back = onCall(sql);
    const last = args.length - 1;
    if (!back || typeof args[last] !== 'function') return args;
    const callback = args[last] as Method;
    return [
      ...args.slice(0, last),
      function (this: object, ...answer: unknown[]) {
        back();
        return callback.apply(this, answer);
      },
    ];
  };
  for (const name of ['run', 'all', 'get', 'exec', 'each']) {
    const onDb = db[name];
    db[name] = function (this: object, ...args: unknown[]) {
      return onDb.apply(this, traced(String(args[0]), args));
    };
    const onStatement = statement[name];
    if (typeof onStatement !== 'function') continue;
    statement[name] = function (this: object, ...args: unknown[]) {
      const sql = texts.get(this);
      return onStatement.apply(this, sql === undefined ? args : traced(sql, args));
    };
  }
}
