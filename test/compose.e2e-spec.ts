import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * The deployment in docker-compose.yml, checked without a Docker engine: Debian's docker-compose
 * validates the file against the Compose schema and resolves it (`config`), and the resolved
 * topology is checked against what the README's Deployment section promises.
 */
const ROOT = join(__dirname, '..');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  init?: boolean;
  environment?: Record<string, string>;
  ports?: Array<string | { host_ip?: string; published?: number | string; target?: number }>;
  profiles?: string[];
  secrets?: Array<string | { source: string }>;
  volumes?: Array<string | { source?: string; target: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

describe('docker-compose.yml', () => {
  let dir: string;
  let services: Record<string, Service>;
  let resolved: { services: Record<string, Service>; secrets: Record<string, { file: string }>; volumes: Record<string, unknown> };

  beforeAll(() => {
    // A copy with the secret files present, as a user has them before `docker compose up`.
    dir = mkdtempSync(join(tmpdir(), 'queuectl-compose-'));
    cpSync(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    cpSync(join(ROOT, 'deploy'), join(dir, 'deploy'), { recursive: true });
    writeFileSync(join(dir, 'deploy/secrets/queuectl_token'), 'x'.repeat(40), { mode: 0o600 });
    writeFileSync(join(dir, 'deploy/secrets/postgres_password'), 'y'.repeat(24), { mode: 0o600 });
    const out = execFileSync('docker-compose', ['--profile', 'single', 'config'], { cwd: dir, encoding: 'utf8' });
    resolved = parse(out);
    services = resolved.services;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is valid for the Compose schema (an unknown key is refused, so the check can fail)', () => {
    const broken = readFileSync(join(dir, 'docker-compose.yml'), 'utf8').replace('    deploy:', '    deplyo:');
    writeFileSync(join(dir, 'broken.yml'), broken);
    expect(() => execFileSync('docker-compose', ['-f', 'broken.yml', 'config', '-q'], { cwd: dir, stdio: 'pipe' })).toThrow(/deplyo/);
  });

  it('runs PostgreSQL with a healthcheck and a volume of its own', () => {
    const pg = services.postgres;
    expect(pg.image).toMatch(/^postgres:1[5-9]/);
    expect(pg.healthcheck?.test.join(' ')).toMatch(/pg_isready/);
    expect(JSON.stringify(pg.volumes)).toContain('/var/lib/postgresql/data');
    expect(JSON.stringify(pg.volumes)).toContain('postgres-data');
  });

  it('runs 2–3 service replicas on PostgreSQL with an init process, readiness that touches the database, secrets for the token', () => {
    const app = services.queuectl;
    expect(app.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(app.deploy?.replicas).toBeLessThanOrEqual(3);
    expect(app.init).toBe(true);
    expect(app.environment?.QUEUECTL_DATABASE_URL).toBe('postgres://queuectl@postgres:5432/queuectl');
    // PostgreSQL and the replicas read one password, from a secret; none is in the file.
    expect(app.environment?.QUEUECTL_DATABASE_PASSWORD_FILE).toBe('/run/secrets/postgres_password');
    expect(services.postgres.environment?.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/postgres_password');
    expect(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')).not.toMatch(/PASSWORD:\s*\S*[^/\s]{8,}$/m);
    expect(app.environment?.QUEUECTL_TOKEN_FILE).toBe('/run/secrets/queuectl_token');
    expect(app.environment?.QUEUECTL_TOKEN).toBeUndefined();
    expect(app.environment?.QUEUECTL_TRUST_PROXY).toBe('uniquelocal');
    expect(app.environment?.QUEUECTL_ALLOWED_HOSTS?.split(',')).toContain('proxy');
    expect(app.healthcheck?.test.join(' ')).toContain('/api/health/ready');
    expect(app.depends_on?.postgres.condition).toBe('service_healthy');
    expect(app.ports ?? []).toEqual([]);
  });

  it('puts the official nginx image in front, published on the loopback only, unbuffered with long timeouts', () => {
    const proxy = services.proxy;
    expect(proxy.image).toMatch(/^nginx:/);
    expect(proxy.ports).toHaveLength(1);
    const port = proxy.ports![0];
    expect(typeof port === 'string' ? port : port.host_ip).toMatch(/^127\.0\.0\.1/);
    const conf = readFileSync(join(ROOT, 'deploy/nginx.conf'), 'utf8');
    expect(conf).toMatch(/server queuectl:7411/);
    expect(conf).toMatch(/proxy_buffering off;/);
    expect(conf).toMatch(/proxy_read_timeout 1h;/);
    expect(conf).toMatch(/proxy_http_version 1\.1;/);
  });

  it('scales workers that reach the service through the proxy with the token from a secret', () => {
    const worker = services.worker;
    expect(worker.command?.slice(0, 2)).toEqual(['worker', 'start']);
    expect(worker.deploy?.replicas).toBeGreaterThanOrEqual(1);
    expect(worker.init).toBe(true);
    expect(worker.environment?.QUEUECTL_URL).toBe('http://proxy:8080');
    expect(worker.environment?.QUEUECTL_TOKEN_FILE).toBe('/run/secrets/queuectl_token');
  });

  it('keeps the single-node SQLite setup as a profile', () => {
    const single = services.single;
    expect(single.profiles).toEqual(['single']);
    expect(single.command).toEqual(['serve', '--workers', '2']);
    expect(single.environment?.QUEUECTL_DATABASE_URL).toBeUndefined();
    expect(JSON.stringify(single.volumes)).toContain('/data');
  });

  it('reads every secret from a file that the repository does not carry', () => {
    expect(Object.keys(resolved.secrets).sort()).toEqual(['postgres_password', 'queuectl_token']);
    const ignored = readFileSync(join(ROOT, 'deploy/secrets/.gitignore'), 'utf8');
    expect(ignored.split('\n')).toContain('*');
  });
});
