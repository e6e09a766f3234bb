import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `<home>/service.json`: how the CLI and workers on this machine find the local service.
 * Shared by the service (writer) and the CLI (reader); plain Node, no framework.
 */
export interface ServiceRecord {
  pid: number;
  url: string;
  host: string;
  port: number;
  started_at: string;
}

export function serviceRecordPath(home: string): string {
  return join(home, 'service.json');
}

export function readServiceRecord(home: string): ServiceRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(serviceRecordPath(home), 'utf8')) as ServiceRecord;
    return typeof record.pid === 'number' && typeof record.url === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

export function writeServiceRecord(home: string, record: ServiceRecord): void {
  const file = serviceRecordPath(home);
  // Write then rename, so a reader never sees half a record.
  writeFileSync(`${file}.tmp`, JSON.stringify(record, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function removeServiceRecord(home: string, pid: number): void {
  if (readServiceRecord(home)?.pid === pid) rmSync(serviceRecordPath(home), { force: true });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
