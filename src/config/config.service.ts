import { Injectable, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock';
import { InvalidInput } from '../common/domain-errors';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Notifications } from '../database/notifications';
import { SqlDatabase } from '../database/sql';
import { SettingRow } from './setting.entity';
import { SETTINGS, SETTING_KEYS, SettingKey, Settings, checkSettings, defaultSettings, normaliseKey, parseSetting, similarKeys } from './settings';

/**
 * Settings live in the database and are cached here: the service is the only writer, so the
 * cache is always current, and hot paths (enqueue, report) read them without a query.
 */
@Injectable()
export class ConfigService implements OnModuleInit {
  private current: Settings = defaultSettings();
  /** The last accepted or refused change; the next one waits for it. */
  private changes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: SqlDatabase,
    private readonly clock: Clock,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly replicas: Notifications,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.load();
    // A change made through another replica: read the settings again (behind any change of ours).
    this.replicas.subscribe('settings', () => {
      const reload = this.changes.then(() => this.load());
      this.changes = reload.catch(() => undefined);
    });
  }

  /** Reads every stored setting (a cold read: TypeORM's repository). */
  private async load(): Promise<void> {
    const rows = await this.dataSource.getRepository<SettingRow>('settings').find();
    for (const row of rows) {
      const key = normaliseKey(row.key);
      const value = key ? parseSetting(key, row.value) : undefined;
      if (key && typeof value === 'number') this.current[key] = value;
    }
  }

  get<K extends SettingKey>(key: K): Settings[K] {
    return this.current[key];
  }

  all(): Settings {
    return { ...this.current };
  }

  resolveKey(key: string): SettingKey {
    const k = normaliseKey(key);
    // JSON quoting keeps the message on one line whatever the path held.
    if (!k) {
      const similar = similarKeys(key);
      const guess = similar.length > 0 ? ` (did you mean ${similar.join(' or ')}?)` : '';
      throw new InvalidInput(`unknown config key ${JSON.stringify(key.slice(0, 100))}${guess}; known keys: ${SETTING_KEYS.join(', ')}`);
    }
    return k;
  }

  async set(rawKey: string, raw: unknown): Promise<{ key: SettingKey; value: number }> {
    const key = this.resolveKey(rawKey);
    const value = parseSetting(key, raw);
    if (typeof value === 'string') throw new InvalidInput(value);
    // One change at a time: a rule that spans keys (lease ≥ 2 × heartbeat) must be checked
    // against what the previous change left, or two changes that are each fine break it together.
    const change = this.changes.then(() => this.apply(key, value));
    this.changes = change.catch(() => undefined);
    return change;
  }

  private async apply(key: SettingKey, value: number): Promise<{ key: SettingKey; value: number }> {
    const next = { ...this.current, [key]: value };
    const conflict = checkSettings(next);
    if (conflict) throw new InvalidInput(conflict);
    await this.db.write((sql) =>
      sql.run(
        `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
        [key, String(value), this.clock.now()],
      ).then(() => sql.announce('settings', key)),
    );
    this.current = next;
    return { key, value };
  }

  describe(): Array<{ key: SettingKey; value: number; default: number; help: string }> {
    return SETTING_KEYS.map((key) => ({ key, value: this.current[key], default: SETTINGS[key].default, help: SETTINGS[key].help }));
  }
}
