import { LogLevel } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { join } from 'node:path';
import { createApp } from '../../src/app.factory';
import { Clock } from '../../src/common/clock';
import { loadEnv } from '../../src/env/env';
import { removeHome, tempHome } from './harness';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface TestApp {
  app: NestExpressApplication;
  home: string;
  token: string;
  auth: { Authorization: string };
  shutdownRequests: number;
  close(): Promise<void>;
}

/** The real AppModule on a fresh SQLite file in a temp dir, not listening (use supertest). */
export async function createTestApp(
  options: { env?: Record<string, string>; clock?: Clock; token?: string; /** Default: errors and warnings. */ logLevels?: LogLevel[] } = {},
): Promise<TestApp> {
  const home = tempHome();
  const token = options.token ?? TEST_TOKEN;
  const env = loadEnv({ QUEUECTL_HOME: home, QUEUECTL_DATABASE_URL: `sqlite:${join(home, 'queue.db')}`, QUEUECTL_TOKEN: token, ...options.env });
  const state = { shutdownRequests: 0 };
  const app = await createApp({ env, token, clock: options.clock, onShutdown: () => state.shutdownRequests++ }, options.logLevels);
  await app.init();
  return {
    app,
    home,
    token,
    auth: { Authorization: `Bearer ${token}` },
    get shutdownRequests() {
      return state.shutdownRequests;
    },
    async close() {
      await app.close();
      removeHome(home);
    },
  };
}
