import type { Database, Statement } from 'sqlite3';

/** How many statements stay prepared: every fixed statement of the service, and some room. */
const KEEP = 128;

interface Entry {
  statement: Statement;
  /** Settled once SQLite has compiled the statement; until then calls must wait for it. */
  ready: Promise<Statement>;
  prepared: boolean;
}

/**
 * Statements kept compiled, by their SQL text, least recently used first.
 *
 * The driver's one-shot calls compile a statement, run it and finalize it: two trips to SQLite's
 * thread instead of one, and a compile that costs about as much as running a small INSERT. The
 * hot statements (the enqueue INSERT, claims, reports) are the same text every time.
 *
 * SQLite cannot close a connection while statements are open, so `releaseAll` must run before
 * the connection closes; `SqlDatabase` ties it to the connection's own close.
 */
export class PreparedStatements {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly connection: Database) {}

  /** The compiled statement for `sql`, or undefined once released (callers then go one-shot). */
  get(sql: string): Statement | Promise<Statement> | undefined {
    if (this.closed) return undefined;
    const found = this.entries.get(sql);
    if (found) {
      this.entries.delete(sql);
      this.entries.set(sql, found);
      return found.prepared ? found.statement : found.ready;
    }
    if (this.entries.size >= KEEP) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldest);
      // Queued behind any call still running on it.
      void entry.ready.then((s) => s.finalize(), () => undefined);
    }
    let statement!: Statement;
    const ready = new Promise<Statement>((resolve, reject) => {
      statement = this.connection.prepare(sql, (err: Error | null) => {
        if (err) {
          // A statement that did not compile is finalized by the driver; forget it.
          if (this.entries.get(sql)?.statement === statement) this.entries.delete(sql);
          reject(err);
          return;
        }
        entry.prepared = true;
        resolve(statement);
      });
    });
    const entry: Entry = { statement, ready, prepared: false };
    this.entries.set(sql, entry);
    return ready;
  }

  /** Finalizes every statement (each after the calls queued on it) and keeps no new ones. */
  async releaseAll(): Promise<void> {
    this.closed = true;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      entries.map((e) =>
        e.ready.then(
          (s) => new Promise<void>((resolve) => s.finalize(() => resolve())),
          () => undefined,
        ),
      ),
    );
  }
}
