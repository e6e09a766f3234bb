import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { Notification, Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { PostgresDatabase } from './postgres-sql';
import { CHANNEL, Topic } from './replica-messages';
import { SqlDatabase } from './sql';

type Listener = (payload: string) => void;

/** How long the listening connection waits before it is opened again after a loss. */
const RELISTEN_MS = 1000;

/**
 * Hears what the other replicas on the same PostgreSQL database did, so what waits here (claim
 * long-polls, output followers, stopping workers, the settings cache) wakes at once. The events
 * are sent by the writes themselves (`Sql.announce`: a `pg_notify` inside the writing
 * transaction, delivered by PostgreSQL at its commit and never for a rollback); a connection of
 * its own LISTENs and hands them to the subscribers. One lost (the listening connection being
 * reopened) costs only latency, as every waiter also rechecks the database on a timer.
 *
 * On SQLite there is one service, and every event is already local: nothing is heard.
 */
@Injectable()
export class Notifications implements OnModuleDestroy {
  private readonly listeners = new Map<Topic, Set<Listener>>();
  private readonly pool?: Pool;
  /** What this service's own messages say they are from. */
  private readonly sender?: string;
  private listening?: PoolClient;
  private closed = false;
  private ready?: Promise<void>;

  constructor(db: SqlDatabase, dataSource: DataSource) {
    if (db instanceof PostgresDatabase) {
      this.sender = db.sender;
      this.pool = (dataSource.driver as PostgresDriver).master as Pool;
      this.ready = this.listen();
    }
  }

  /** Resolves once this replica listens (PostgreSQL); at once on SQLite. */
  async listeningReady(): Promise<void> {
    await this.ready;
  }

  /** Calls `listener` with each event of `topic` another replica announces. */
  subscribe(topic: Topic, listener: Listener): () => void {
    const set = this.listeners.get(topic) ?? new Set<Listener>();
    this.listeners.set(topic, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    const client = this.listening;
    this.listening = undefined;
    if (client) {
      await client.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
      client.release();
    }
  }
  private async listen(): Promise<void> {
    while (!this.closed) {
      try {
        const client = await this.pool!.connect();
        client.on('notification', (n: Notification) => this.deliver(n.payload));
        client.on('error', () => {
          if (this.listening === client) this.listening = undefined;
          client.release(true);
          if (!this.closed) setTimeout(() => void this.listen(), RELISTEN_MS);
        });
        await client.query(`LISTEN ${CHANNEL}`);
        if (this.closed) {
          client.release();
          return;
        }
        this.listening = client;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, RELISTEN_MS));
      }
    }
  }

  private deliver(payload: string | undefined): void {
    let message: { from: string; events: Array<[Topic, string]> };
    try {
      message = JSON.parse(payload ?? '');
    } catch {
      return;
    }
    if (message.from === this.sender) return;
    for (const [topic, value] of message.events) for (const l of this.listeners.get(topic) ?? []) l(value);
  }
}
