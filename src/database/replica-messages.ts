import { randomBytes } from 'node:crypto';

// What replicas on one PostgreSQL database tell each other: written into the writing transaction
// by PostgresDatabase (Sql.announce), heard by Notifications.

/** What one replica tells the others. */
export type Topic = 'work' | 'job' | 'stop' | 'settings' | 'schedules';

/**
 * The channel every replica LISTENs on. Replicas on other schemas of the same database hear it too:
 * to them it is a wake-up that finds nothing, as a waiter's timer would.
 */
export const CHANNEL = 'queuectl';
/** PostgreSQL refuses payloads of 8000 bytes or more; events are sent in messages below that. */
const MAX_PAYLOAD = 7000;
/** A name for one service among the senders, so it skips its own messages (its subscribers were told locally). */
export function newSender(): string {
  return randomBytes(6).toString('hex');
}

/**
 * The `pg_notify` payloads that carry `events` to the other replicas: one message for the usual
 * handful of events, several (each below PostgreSQL's limit) for a big burst.
 */
export function notifyMessages(sender: string, events: Array<[Topic, string]>): string[] {
  const messages: string[] = [];
  let batch: Array<[Topic, string]> = [];
  let size = 0;
  for (const e of events) {
    if (batch.length > 0 && size + e[1].length + 16 > MAX_PAYLOAD) {
      messages.push(JSON.stringify({ from: sender, events: batch }));
      batch = [];
      size = 0;
    }
    batch.push(e);
    size += e[1].length + 16;
  }
  if (batch.length > 0) messages.push(JSON.stringify({ from: sender, events: batch }));
  return messages;
}
