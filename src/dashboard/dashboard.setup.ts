import { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import express from 'express';
import helmet from 'helmet';
import hbs from 'hbs';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** views/ sits at the package root, above both src/ (ts-jest) and dist/src/ (built). */
export function findViewsDir(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'views');
    if (existsSync(join(candidate, 'layouts', 'main.hbs'))) return candidate;
    if (dirname(dir) === dir) throw new Error('views/ not found above ' + from);
  }
}

let partialsLoaded: Promise<void> | undefined;

/**
 * Everything the dashboard needs from the HTTP layer: Handlebars views, layout and partials,
 * its own assets, cookies, and security headers. Called by createApp before the app starts.
 */
export async function setupDashboard(app: NestExpressApplication): Promise<void> {
  const views = findViewsDir();
  // Strict CSP: scripts, styles, images and requests only from the service itself, so the
  // dashboard works on a machine with no internet and an injected tag can load nothing.
  const secure = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        objectSrc: ["'none'"],
      },
    },
    // The service speaks plain HTTP unless a proxy adds TLS; HSTS is that proxy's decision.
    strictTransportSecurity: false,
  });
  // Pages get the security headers and cookies; the JSON API (worker reports, enqueues: the hot
  // paths) needs neither, and the API docs page is Swagger UI's own, with inline code.
  const cookies = cookieParser();
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) =>
    req.path.startsWith('/api/') ? next() : secure(req, res, () => cookies(req, res, next)),
  );
  app.use('/assets', express.static(join(views, 'assets'), { index: false, maxAge: '1h' }));

  app.setBaseViewsDir(views);
  app.setViewEngine('hbs');
  app.set('view options', { layout: 'layouts/main' });
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  // Partials are read once per process; rendering waits for them (hbs queues renders meanwhile).
  partialsLoaded ??= new Promise<void>((resolve) => hbs.registerPartials(join(views, 'partials'), { rename: (name: string) => name }, () => resolve()));
  await partialsLoaded;
}
