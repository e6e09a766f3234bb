/**
 * The entry of a worker process forked by `queuectl worker start`. It shares the terminal's
 * process group, so a Ctrl+C reaches it at the instant it reaches `worker start`; its parent
 * tells it to stop instead (see worker-main.ts). So its first act, before the worker's modules
 * load, is to ignore SIGINT and SIGTERM and say so: `worker start` claims nothing until then.
 */
const ignore = () => undefined;
process.on('SIGINT', ignore);
process.on('SIGTERM', ignore);
process.send?.({ type: 'ready' });

// Loaded only now, and not by an import (which would run first).
// eslint-disable-next-line @typescript-eslint/no-require-imports
(require('./worker-main') as typeof import('./worker-main')).runForked();
