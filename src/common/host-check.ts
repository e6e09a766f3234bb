import type { NextFunction, Request, Response } from 'express';
import { hostname, networkInterfaces } from 'node:os';
import { DomainError } from './domain-errors';
import { toEnvelope } from './error-envelope.filter';

export class WrongHost extends DomainError {
  constructor(host: string) {
    super('wrong_host', `this service does not answer for host ${JSON.stringify(host.slice(0, 100))}: add it to QUEUECTL_ALLOWED_HOSTS to allow it`);
  }
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];
const WILDCARD = ['0.0.0.0', '::', '[::]'];

/** The name part of a Host header, lower case: `[::1]:7411` → `::1`, `Example.com.:80` → `example.com`. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']')) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/** A configured name or address, as hostName would read it from a header: an IPv6 address may come without brackets. */
function configuredName(name: string): string {
  return hostName(name.includes(':') && !name.startsWith('[') ? `[${name}]` : name);
}

/**
 * The names the service answers to: loopback, the bind address (for a wildcard bind, every
 * address of this machine and its host name) and the configured extra ones.
 */
export function allowedHostNames(bindHost: string, extra: string[]): Set<string> {
  const names = new Set([...LOOPBACK, ...extra].map(configuredName));
  if (WILDCARD.includes(bindHost)) {
    names.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(configuredName(a.address));
  } else {
    names.add(configuredName(bindHost));
  }
  return names;
}

/**
 * Refuses a request whose Host header names another host: a web page that rebinds its own DNS
 * name to 127.0.0.1 reaches the service with that name as Host, and would otherwise be answered
 * (and could enqueue shell commands once it has a token or a session). A request without a Host
 * header cannot come from a browser and is let through.
 */
export function hostCheck(allowed: Set<string>) {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.host;
    if (header === undefined || allowed.has(hostName(header))) return next();
    const { status, body } = toEnvelope(new WrongHost(header));
    if (req.path.toLowerCase().startsWith('/api/')) res.status(status).json(body);
    else res.status(status).type('text/plain').send(`${body.error.message}\n`);
  };
}
