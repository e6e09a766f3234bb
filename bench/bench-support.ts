import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const SERVICE_MAIN = join(ROOT, 'dist', 'src', 'main.js');

export interface Service {
  url: string;
  token: string;
  home: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export function benchEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUEUECTL_')) env[k] = v;
  return { ...env, QUEUECTL_HOME: home, QUEUECTL_PORT: '0' };
}

/**
 * A fresh service on a temp home and a free port; stop() removes the home. `extraEnv` may point it
 * at PostgreSQL (QUEUECTL_DATABASE_URL, with the QUEUECTL_TOKEN that mode needs).
 */
export async function startService(extraEnv: Record<string, string> = {}): Promise<Service> {
  const home = mkdtempSync(join(tmpdir(), 'queuectl-bench-'));
  const child = spawn(process.execPath, [SERVICE_MAIN, '--quiet'], { env: { ...benchEnv(home), ...extraEnv }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 60_000; // a loaded machine starts a service slowly
  for (;;) {
    try {
      const record = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
      if (record.pid === child.pid) {
        const token = extraEnv.QUEUECTL_TOKEN ?? readFileSync(join(home, 'token'), 'utf8').trim();
        return {
          url: record.url,
          token,
          home,
          process: child,
          stop: async () => {
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
            rmSync(home, { recursive: true, force: true });
          },
        };
      }
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
      throw new Error('service did not start');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function call<T = any>(svc: Service, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(svc.url + path, {
    method,
    headers: { authorization: `Bearer ${svc.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
