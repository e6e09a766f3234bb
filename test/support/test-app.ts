import { NestExpressApplication } from '@nestjs/platform-express';
import { createApp } from '../../src/app.factory';
import { Clock } from '../../src/common/clock';
import { loadEnv } from '../../src/env/env';
import { databaseUrlOf } from './database';
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

/**
 * The real AppModule on a fresh database, not listening (use supertest): a SQLite file in a temp
 * dir, or on PostgreSQL (see ./database) a schema of its own.
 */
export async function createTestApp(options: { env?: Record<string, string>; clock?: Clock } = {}): Promise<TestApp> {
  const home = tempHome();
  const env = loadEnv({ QUEUECTL_HOME: home, QUEUECTL_DATABASE_URL: databaseUrlOf(home), QUEUECTL_TOKEN: TEST_TOKEN, ...options.env });
  const state = { shutdownRequests: 0 };
  const app = await createApp({ env, token: TEST_TOKEN, clock: options.clock, onShutdown: () => state.shutdownRequests++ });
  await app.init();
  return {
    app,
    home,
    token: TEST_TOKEN,
    auth: { Authorization: `Bearer ${TEST_TOKEN}` },
    get shutdownRequests() {
      return state.shutdownRequests;
    },
    async close() {
      await app.close();
      removeHome(home);
    },
  };
}
