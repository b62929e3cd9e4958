/**
 * The distributed fleet's commands (docs/fleet.md, "Distributed workers"): `git-sync worker`, and
 * what `fleet status --queue` and `fleet serve --queue` do (main.ts loads this module only for them). Only these load bullmq and ioredis, and
 * only when run (the `src/fleet/queue/` modules are imported on demand), so a plain sync never
 * pays for them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { QueueProducerService } from '../fleet/queue/producer-service.js';
import type { FleetWorker } from '../fleet/queue/worker.js';
import { UsageError } from '../errors.js';
import { ConnectionPool } from '../transport/connection-pool.js';
import { EXIT_OK, errorLine, errorReport, exitCodeFor } from './exit-codes.js';
import { toJson } from './render.js';

export interface QueueCliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

function failed(error: unknown, io: QueueCliIo): number {
  io.stderr(`${errorLine(errorReport(error, []))}\n`);
  return exitCodeFor(error);
}

/** Serves `/metrics` (prom-client text) and `/healthz` on `listen` (host:port). */
async function startMetricsServer(listen: string, metrics: () => Promise<{ contentType: string; body: string }>): Promise<Server> {
  const { parseListen } = await import('../fleet/server.js');
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`cannot listen on ${listen} for --metrics: ${error.code === 'EADDRINUSE' ? 'it is in use' : error.message}; choose another address`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** A stream onto the CLI's stderr, for the pino run log. */
function stderrStream(io: QueueCliIo): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      io.stderr(chunk.toString('utf8'));
      done();
    },
  });
}

/** `git-sync worker mirrors.yaml --queue redis://...`: runs mirror jobs until SIGTERM or SIGINT. */
export async function runWorker(manifestPath: string, flags: Record<string, unknown>, io: QueueCliIo): Promise<number> {
  const { loadManifest } = await import('../fleet/manifest.js');
  const { createFleetLogger } = await import('../fleet/runner.js');
  const queue = await import('../fleet/queue/index.js');
  const logger = createFleetLogger(stderrStream(io));
  // Connections one run leaves idle for the next, closed once every run has settled.
  const pool = new ConnectionPool();
  let worker: FleetWorker;
  let metricsServer: Server | null = null;
  try {
    if (typeof flags['queue'] !== 'string') throw new UsageError('worker needs --queue redis://HOST:PORT[/DB] (or GITSYNC_QUEUE): the Redis the producer schedules mirrors on');
    const address = queue.parseQueueUrl(flags['queue']);
    const manifest = await loadManifest(manifestPath);
    const metrics = new queue.WorkerMetrics();
    worker = await queue.FleetWorker.start({
      manifest,
      address,
      run: queue.mirrorRunner({ env: io.env, logger, connectionPool: pool }),
      ...(flags['concurrency'] === undefined ? {} : { concurrency: flags['concurrency'] as number }),
      ...(flags['perHost'] === undefined ? {} : { perHost: flags['perHost'] as number }),
      leaseMillis: flags['lease'] as number,
      onEvent: ({ event, ...fields }) => (event === 'lease-lost' || event === 'job-unknown-mirror' || event === 'queue-error' ? logger.warn : logger.info).call(logger, { event, ...fields }, `worker: ${event}${fields.mirror === undefined ? '' : ` ${fields.mirror}`}`),
      onRunFinished: (mirrorId, record, durationMillis) => metrics.runFinished(mirrorId, record, durationMillis),
    });
    metrics.watch(worker);
    if (typeof flags['metrics'] === 'string') {
      metricsServer = await startMetricsServer(flags['metrics'], () => metrics.render());
      const bound = metricsServer.address() as AddressInfo;
      logger.info({ event: 'metrics', url: `http://${bound.address}:${bound.port}/metrics` }, 'worker: metrics');
    }
    logger.info({ event: 'started', worker: worker.id, queue: address.display, mirrors: manifest.mirrors.length }, `worker: started on ${address.display}`);
  } catch (error) {
    metricsServer?.close();
    pool.close();
    return failed(error, io);
  }
  // The first SIGTERM/SIGINT stops taking jobs and lets running ones finish (or, after
  // --stop-grace, aborts them); a second one aborts them at once. An aborted run is recorded as
  // such and its job handed back to the queue; the process exits once every run has settled.
  let signals = 0;
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      signals += 1;
      if (signals === 1) void worker.stop({ graceMillis: flags['stopGrace'] as number }).then(resolve, resolve);
      else worker.abortAll('the worker was told to stop again');
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  pool.close();
  await new Promise<void>((resolve) => (metricsServer === null ? resolve() : metricsServer.close(() => resolve())));
  return EXIT_OK;
}

/**
 * `fleet status --queue`: the mirrors' standing as the workers recorded it in Redis, in the
 * table (and JSON) `fleet status` prints from SQLite, plus the queue's jobs.
 */
export async function queueStatus(manifestPath: string | null, flags: Record<string, unknown>, io: QueueCliIo): Promise<number> {
  const { renderStatus, statusJson } = await import('./fleet.js');
  try {
    const queue = await import('../fleet/queue/index.js');
    const address = queue.parseQueueUrl(flags['queue'] as string);
    const ids = manifestPath === null ? undefined : (await (await import('../fleet/manifest.js')).loadManifest(manifestPath)).mirrors.map((mirror) => mirror.id);
    const status = await queue.readQueueStatus(address, ids);
    const now = new Date();
    if (flags['json'] === true) {
      io.stdout(toJson({ queue: status.queue, jobs: status.jobs, mirrors: status.mirrors.map((mirror) => statusJson(mirror, now)), error: null }));
    } else {
      const { waiting, active, delayed, failed: failedJobs } = status.jobs;
      io.stdout(`${status.mirrors.length === 0 ? 'no mirrors known\n' : renderStatus(status.mirrors, now)}\nqueue ${status.queue}: ${active} running, ${waiting} waiting, ${delayed} delayed (next scheduled runs and retries), ${failedJobs} failed\n`);
    }
    return EXIT_OK;
  } catch (error) {
    if (flags['json'] === true) io.stdout(toJson({ queue: null, jobs: null, mirrors: [], error: errorReport(error, []) }));
    return failed(error, io);
  }
}

/**
 * `fleet serve --queue`: the producer. Schedules every mirror on the queue and serves the hooks
 * and endpoints until SIGTERM or SIGINT; SIGHUP reloads the manifest. The run flags of `fleet
 * serve` (--concurrency, --per-host, --state, --max-backoff) are the workers' business here.
 */
export async function queueServe(manifestPath: string, flags: Record<string, unknown>, io: QueueCliIo): Promise<number> {
  const { createFleetLogger } = await import('../fleet/runner.js');
  const queue = await import('../fleet/queue/index.js');
  const logger = createFleetLogger(stderrStream(io));
  let service: QueueProducerService;
  try {
    service = await queue.QueueProducerService.start({
      manifest: manifestPath,
      address: queue.parseQueueUrl(flags['queue'] as string),
      logger,
      env: io.env,
      ...(flags['maxHookBytes'] === undefined ? {} : { maxBodyBytes: flags['maxHookBytes'] as number }),
    });
  } catch (error) {
    return failed(error, io);
  }
  const stop = (): void => void service.stop();
  const reload = (): void => void service.reload();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', reload);
  try {
    await service.stopped;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', reload);
  }
  return EXIT_OK;
}
