/**
 * Keeps every CLI run of a test file (stdout, stderr, and so the JSON) so that one last test can
 * grep all of them for every secret the scenarios used, in every form it could leak: as given,
 * URL-encoded, and inside a basic `Authorization` header.
 */
import assert from 'node:assert/strict';
import type { CliRun } from './run-cli.js';

export class RunLog {
  private readonly runs: { label: string; run: CliRun }[] = [];

  /** Records a run and returns it, so a scenario reads `const run = log.keep('label', await runCli(...))`. */
  keep(label: string, run: CliRun): CliRun {
    this.runs.push({ label, run });
    return run;
  }

  get size(): number {
    return this.runs.length;
  }

  /** No output of any kept run contains any form of any secret. */
  assertNoSecrets(secrets: readonly { secret: string; username?: string }[]): void {
    const forms = secrets.flatMap(({ secret, username }) => [
      secret,
      encodeURIComponent(secret),
      Buffer.from(`${username ?? 'git'}:${secret}`).toString('base64'),
    ]);
    for (const { label, run } of this.runs) {
      for (const form of forms) {
        assert.ok(!run.stdout.includes(form), `${label}: stdout contains a secret (${form.slice(0, 3)}...)`);
        assert.ok(!run.stderr.includes(form), `${label}: stderr contains a secret (${form.slice(0, 3)}...)`);
      }
    }
  }
}
