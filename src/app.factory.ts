import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express from 'express';
import { AppModule, AppOptions } from './app.module';
import { bodyParsers } from './common/api-body';
import { allowedHostNames, hostCheck } from './common/host-check';
import { setupDashboard } from './dashboard/dashboard.setup';

/**
 * Builds the configured application without listening, so tests drive exactly what `serve` runs.
 */
export async function createApp(options: AppOptions, logLevels: LogLevel[] = ['error', 'warn']): Promise<NestExpressApplication> {
  // Routes match case-sensitively: `/API/jobs` is not the API (and must not reach it through the
  // dashboard's form parser). Set before Express builds its router, so on an instance of our own.
  const server = express();
  server.set('case sensitive routing', true);
  // First of all: a request for another host name (DNS rebinding) gets no further.
  server.use(hostCheck(allowedHostNames(options.env.host, options.env.allowedHosts)));
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), new ExpressAdapter(server), {
    bodyParser: false,
    logger: logLevels,
    abortOnError: false,
  });
  app.disable('x-powered-by');
  // Behind a reverse proxy every client would share the proxy's address (and its failed-login
  // count) unless the proxy's X-Forwarded-For is believed: QUEUECTL_TRUST_PROXY says whose.
  app.set('trust proxy', options.env.trustProxy);
  // No ETag: answers are live queue state that no client revalidates, and Express would hash
  // every one (copying it into a Buffer first): ~10% of a bare Express answer's CPU on this machine.
  app.set('etag', false);

  // Our own parsers, so a malformed or oversized body gets the error envelope like any other error.
  app.use(bodyParsers(options.env.bodyLimitBytes));

  // The dashboard: views, assets, cookies and security headers (see src/dashboard/dashboard.setup.ts).
  await setupDashboard(app);

  const docs = new DocumentBuilder()
    .setTitle('queuectl')
    .setDescription('Background jobs for shell commands: enqueue, inspect, retry, run.')
    .setVersion('0.1.0')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('api/docs', app, () => SwaggerModule.createDocument(app, docs));
  return app;
}
