/**
 * `git-sync fleet serve` (docs/fleet.md, "Serve"): read flags, start the service of
 * src/fleet/serve.ts with the process's signals, and wait until it has stopped. Its JSON log lines
 * go to stderr, as `fleet run --log json`'s do; a refusal before the start is one `error:` line there. Loaded by main.ts
 * only when the command runs, like the other fleet commands.
 */
import { Writable } from 'node:stream';
import { FleetService, handleSignals } from '../fleet/serve.js';
import { createFleetLogger } from '../fleet/runner.js';
import { errorLine, errorReport, exitCodeFor, EXIT_OK } from './exit-codes.js';
import type { CliIo } from './main.js';

type Flags = Record<string, unknown>;

export async function fleetServe(manifest: string, flags: Flags, io: CliIo): Promise<number> {
  const logger = createFleetLogger(
    new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        io.stderr(chunk.toString());
        done();
      },
    }),
  );
  let service: FleetService;
  try {
    service = await FleetService.start({
      manifest,
      statePath: (flags.state as string | undefined) ?? null,
      concurrency: (flags.concurrency as number | undefined) ?? null,
      perHostConcurrency: (flags.perHost as number | undefined) ?? null,
      maxBackoffMillis: flags.maxBackoff as number | undefined,
      stopGraceMillis: flags.stopGrace as number | undefined,
      maxBodyBytes: flags.maxHookBytes as number | undefined,
      watch: flags.watch !== false,
      env: io.env,
      logger,
    });
  } catch (error) {
    io.stderr(`${errorLine(errorReport(error, []))}\n`);
    return exitCodeFor(error);
  }
  const release = handleSignals(service);
  try {
    await service.stopped;
  } finally {
    release();
  }
  return EXIT_OK;
}
