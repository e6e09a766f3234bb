import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Notification, Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { SqlDatabase } from './sql';

/** What one replica tells the others. */
export type Topic = 'work' | 'job' | 'stop' | 'settings' | 'schedules';
type Listener = (payload: string) => void;

const CHANNEL = 'queuectl';
/** PostgreSQL refuses payloads of 8000 bytes or more; events are sent in messages below that. */
const MAX_PAYLOAD = 7000;
/** How long the listening connection waits before it is opened again after a loss. */
const RELISTEN_MS = 1000;

/**
 * Tells the other replicas on the same PostgreSQL database what this one did, so what waits
 * there (claim long-polls, output followers, stopping workers, the settings cache) wakes at once:
 * events raised here are coalesced per turn of the event loop and sent with one `pg_notify`;
 * a connection of its own LISTENs and hands the others' events to the subscribers. The events
 * follow the writes' commits; one lost (a replica killed in between, the listening connection
 * being reopened) costs only latency, as every waiter also rechecks the database on a timer.
 *
 * On SQLite there is one service, and every event is already local: nothing is sent.
 */
@Injectable()
export class Notifications implements OnModuleDestroy {
  private readonly replica = randomBytes(6).toString('hex');
  private readonly listeners = new Map<Topic, Set<Listener>>();
  private readonly pool?: Pool;
  private outgoing: Array<[Topic, string]> = [];
  private listening?: PoolClient;
  private closed = false;
  private ready?: Promise<void>;

  constructor(db: SqlDatabase, dataSource: DataSource) {
    if (db.dialect === 'postgres') {
      this.pool = (dataSource.driver as PostgresDriver).master as Pool;
      this.ready = this.listen();
    }
  }

  /** Resolves once this replica listens (PostgreSQL); at once on SQLite. */
  async listeningReady(): Promise<void> {
    await this.ready;
  }

  /** Tells the other replicas (the local subscribers are told by the caller's own events). */
  publish(topic: Topic, payload = ''): void {
    if (!this.pool || this.closed) return;
    if (this.outgoing.length === 0) setImmediate(() => void this.flush());
    this.outgoing.push([topic, payload]);
  }

  /** Calls `listener` with each event of `topic` another replica publishes. */
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

  private async flush(): Promise<void> {
    const events = this.outgoing;
    this.outgoing = [];
    // One message for the usual handful of events; big bursts in several, each below the limit.
    const messages: string[] = [];
    let batch: Array<[Topic, string]> = [];
    let size = 0;
    for (const e of events) {
      if (batch.length > 0 && size + e[1].length + 16 > MAX_PAYLOAD) {
        messages.push(JSON.stringify({ from: this.replica, events: batch }));
        batch = [];
        size = 0;
      }
      batch.push(e);
      size += e[1].length + 16;
    }
    if (batch.length > 0) messages.push(JSON.stringify({ from: this.replica, events: batch }));
    try {
      await this.pool!.query(`SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m`, [CHANNEL, messages]);
    } catch {
      // The others recheck on their timers; the database being away is answered elsewhere.
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
    if (message.from === this.replica) return;
    for (const [topic, value] of message.events) for (const l of this.listeners.get(topic) ?? []) l(value);
  }
}
