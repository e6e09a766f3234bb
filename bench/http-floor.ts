/**
 * `node dist/bench/http-floor.js [--runs 3]`: what one-job-per-request enqueueing could reach on
 * this machine before any queue work — the same load as the enqueue benchmark (16 kept-alive
 * clients, each waiting for its answer) against servers that only parse the JSON body and answer
 * 201 with a small JSON object:
 *
 *   raw      Node's http module alone
 *   express  Express 5 with express.json(), one route
 *   nest     NestJS on Express, one controller with one @Post route and @Body()
 *   nest-fastify  the same controller on Nest's Fastify adapter (@nestjs/platform-fastify): the
 *            A/B of the adapter the service would switch to
 *
 * Each server runs in a child process, so its CPU time per request is measured apart from the
 * client's. The report gives medians.
 */
import 'reflect-metadata';
import { ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Body, Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import express from 'express';
import { median } from './bench-support';
import { KeepAliveClient } from './keep-alive-client';

const KINDS = ['raw', 'express', 'nest', 'nest-fastify'] as const;
type Kind = (typeof KINDS)[number];

@Controller('api')
class FloorController {
  @Post('jobs')
  enqueue(@Body() body: { command: string }) {
    return { id: 'floor', command: body.command, state: 'pending' };
  }
}

@Module({ controllers: [FloorController] })
class FloorModule {}

/** In the child: starts one kind of server on a free port and tells the parent which. */
async function serve(kind: Kind): Promise<void> {
  let server: http.Server;
  if (kind === 'raw') {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { command: string };
        const answer = JSON.stringify({ id: 'floor', command: body.command, state: 'pending' });
        res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) });
        res.end(answer);
      });
    });
    server.listen(0, '127.0.0.1');
  } else if (kind === 'express') {
    const app = express();
    app.use(express.json());
    app.post('/api/jobs', (req, res) => {
      res.status(201).json({ id: 'floor', command: (req.body as { command: string }).command, state: 'pending' });
    });
    server = app.listen(0, '127.0.0.1');
  } else if (kind === 'nest') {
    const app = await NestFactory.create(FloorModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    server = app.getHttpServer() as http.Server;
  } else {
    const app = await NestFactory.create<NestFastifyApplication>(FloorModule, new FastifyAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
    server = app.getHttpServer() as http.Server;
  }
  if (!server.listening) await new Promise((r) => server.once('listening', r));
  // Gone with its parent, whatever way the parent ends.
  process.once('disconnect', () => process.exit(0));
  process.send!({ port: (server.address() as { port: number }).port });
}

function cpuSeconds(child: ChildProcess): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(kind: Kind, perClient: number): Promise<{ rate: number; serverUs: number; clientUs: number }> {
  const child = fork(__filename, ['--serve', kind], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
    });
    const clients = Array.from({ length: 16 }, () => new KeepAliveClient('127.0.0.1', port, 'none'));
    const post = async (client: KeepAliveClient, command: string) => {
      const answer = await client.post('/api/jobs', Buffer.from(JSON.stringify({ command })));
      if (answer.status !== 201) throw new Error(`${kind}: HTTP ${answer.status}`);
    };
    await Promise.all(clients.map((c, i) => post(c, `warm ${i}`)));
    const cpu0 = cpuSeconds(child);
    const mine0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await Promise.all(clients.map(async (c, i) => {
      for (let n = 0; n < perClient; n++) await post(c, `echo ${i}-${n}`);
    }));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const requests = clients.length * perClient;
    const mine = process.cpuUsage(mine0);
    for (const c of clients) c.close();
    return { rate: requests / seconds, serverUs: (1e6 * (cpuSeconds(child) - cpu0)) / requests, clientUs: (mine.user + mine.system) / requests };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--serve');
  if (i >= 0) return serve(process.argv[i + 1] as Kind);
  const r = process.argv.indexOf('--runs');
  const runs = r >= 0 ? Number(process.argv[r + 1]) : 3;
  const results: Record<Kind, Array<{ rate: number; serverUs: number; clientUs: number }>> = { raw: [], express: [], nest: [], 'nest-fastify': [] };
  for (let run = 0; run < runs; run++) {
    for (const kind of KINDS) {
      const m = await measure(kind, 500);
      results[kind].push(m);
      process.stderr.write(`  ${kind}: ${m.rate.toFixed(0)}/s, server ${m.serverUs.toFixed(0)} µs CPU a request, client ${m.clientUs.toFixed(0)} µs\n`);
    }
  }
  for (const kind of KINDS) {
    const list = results[kind];
    process.stdout.write(
      `${kind.padEnd(8)} median ${median(list.map((m) => m.rate)).toFixed(0)}/s, server ${median(list.map((m) => m.serverUs)).toFixed(0)} µs CPU a request\n`,
    );
  }
}

main().catch((e) => {
  process.stderr.write(`http-floor failed: ${(e as Error).message}\n`);
  process.exit(1);
});
