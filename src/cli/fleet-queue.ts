/**
 * The distributed fleet's commands (docs/fleet.md, "Distributed workers"): `git-sync worker`, and
 * what `fleet status --queue` and `fleet serve --queue` do. Only these load bullmq and ioredis, and
 * only when run (the `src/fleet/queue/` modules are imported on demand), so a plain sync never
 * pays for them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { QueueStatus } from '../fleet/queue/status.js';
import type { FleetWorker } from '../fleet/queue/worker.js';
import { GitSyncError, UsageError } from '../errors.js';
import { parseDuration } from '../plan/duration.js';
import { EXIT_OK, errorLine, errorReport, exitCodeFor } from './exit-codes.js';

export interface QueueCliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

function positiveInteger(label: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < 1) throw new InvalidArgumentError(`${label} must be a whole number of at least 1`);
    return number;
  };
}

function duration(label: string): (value: string) => number {
  return (value) => {
    try {
      return parseDuration(value, label);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** `--queue`, shared by worker, `fleet status` and `fleet serve`. */
export function queueOption(): Option {
  return new Option('--queue <url>', 'the distributed fleet’s Redis: redis://HOST:PORT[/DB] (password from GITSYNC_REDIS_PASSWORD)');
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

/** `git-sync worker mirrors.yaml --queue redis://...`: runs mirror jobs until SIGTERM or SIGINT. */
export function addWorkerCommand(program: Command, io: QueueCliIo, setExitCode: (code: number) => void): void {
  program
    .command('worker')
    .description('take mirror jobs from the distributed fleet’s Redis queue and run them (docs/fleet.md, Distributed workers)')
    .argument('<manifest>', 'the fleet manifest (mirrors.yaml): the same file the producer reads')
    .addOption(queueOption().makeOptionMandatory())
    .addOption(new Option('--concurrency <n>', 'mirror runs this worker process runs at once').argParser(positiveInteger('--concurrency')))
    .addOption(new Option('--per-host <n>', 'runs touching one host at once, across every worker (give all workers the same)').argParser(positiveInteger('--per-host')))
    .addOption(new Option('--metrics <host:port>', 'serve /metrics (Prometheus) and /healthz there'))
    .addOption(new Option('--lease <duration>', 'how long a dead worker’s mirror lock, host slots and jobs stay held').default(30_000, '30s').argParser(duration('--lease')))
    .addOption(new Option('--stop-grace <duration>', 'on SIGTERM/SIGINT, how long running runs may finish before they are aborted and handed back').default(null, 'wait for them').argParser(duration('--stop-grace')))
    .addHelpText('after', '\nExamples:\n  $ git-sync worker mirrors.yaml --queue redis://127.0.0.1:6379\n  $ git-sync worker mirrors.yaml --queue redis://redis:6379/2 --concurrency 8 --per-host 4 --metrics 0.0.0.0:9464\n')
    .action(async (manifestPath: string, flags: Record<string, unknown>) => {
      setExitCode(await runWorker(manifestPath, flags, io));
    });
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

async function runWorker(manifestPath: string, flags: Record<string, unknown>, io: QueueCliIo): Promise<number> {
  const { loadManifest } = await import('../fleet/manifest.js');
  const { createFleetLogger } = await import('../fleet/runner.js');
  const queue = await import('../fleet/queue/index.js');
  const logger = createFleetLogger(stderrStream(io));
  let worker: FleetWorker;
  let metricsServer: Server | null = null;
  try {
    const address = queue.parseQueueUrl(flags['queue'] as string);
    const manifest = await loadManifest(manifestPath);
    const metrics = new queue.WorkerMetrics();
    worker = await queue.FleetWorker.start({
      manifest,
      address,
      run: queue.mirrorRunner({ env: io.env, logger }),
      ...(flags['concurrency'] === undefined ? {} : { concurrency: flags['concurrency'] as number }),
      ...(flags['perHost'] === undefined ? {} : { perHost: flags['perHost'] as number }),
      leaseMillis: flags['lease'] as number,
      onEvent: ({ event, ...fields }) => (event === 'lease-lost' || event === 'job-unknown-mirror' ? logger.warn : logger.info).call(logger, { event, ...fields }, `worker: ${event}${fields.mirror === undefined ? '' : ` ${fields.mirror}`}`),
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
    return failed(error, io);
  }
  // The first SIGTERM/SIGINT stops taking jobs and lets running ones finish (or, after
  // --stop-grace, aborts them); a second one aborts them at once. An aborted run is recorded as
  // such and its job handed back to the queue; the process exits once every run has settled.
  let signals = 0;
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      signals += 1;
      if (signals === 1) void worker.stop({ graceMillis: flags['stopGrace'] as number | null }).then(resolve, resolve);
      else worker.abortAll('the worker was told to stop again');
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await new Promise<void>((resolve) => (metricsServer === null ? resolve() : metricsServer.close(() => resolve())));
  return EXIT_OK;
}

/** `fleet status --queue`: the mirrors' standing as the workers recorded it in Redis. */
export async function queueStatus(manifestPath: string | null, queueUrl: string, json: boolean, io: QueueCliIo): Promise<number> {
  const queue = await import('../fleet/queue/index.js');
  try {
    const address = queue.parseQueueUrl(queueUrl);
    const ids = manifestPath === null ? undefined : (await (await import('../fleet/manifest.js')).loadManifest(manifestPath)).mirrors.map((mirror) => mirror.id);
    const status = await queue.readQueueStatus(address, ids);
    io.stdout(json ? `${JSON.stringify(status, null, 2)}\n` : renderQueueStatus(status));
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof GitSyncError)) throw error;
    return failed(error, io);
  }
}

const when = (date: Date | null): string => (date === null ? '-' : date.toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** The status table: one line per mirror, then the queue's jobs. */
export function renderQueueStatus(status: QueueStatus): string {
  const header = ['MIRROR', 'LAST RUN', 'OUTCOME', 'LAST SUCCESS', 'FAILURES', 'NEXT RUN', 'RUNNING SINCE'];
  const rows = status.mirrors.map((mirror) => [
    mirror.id,
    when(mirror.lastRun?.startedAt ?? null),
    mirror.lastOutcome === null ? '-' : `${mirror.lastOutcome}${mirror.lastReason === null ? '' : ` (${mirror.lastReason})`}`,
    when(mirror.lastSuccess),
    String(mirror.consecutiveFailures),
    when(mirror.nextRun),
    when(mirror.runningSince),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  const jobs = status.jobs;
  return `${[line(header), ...rows.map(line)].join('\n')}\n\nqueue ${status.queue}: ${jobs.waiting} waiting, ${jobs.active} running, ${jobs.delayed} delayed (schedules and retries), ${jobs.failed} failed\n`;
}
