/**
 * Help and docs come from one option table: every flag it declares shows up in the help of each
 * command that takes it (with its default and environment variable) and in docs/usage.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OPTION_TABLE, helpText, optionsFor, type CommandName } from '../../src/cli/option-table.js';
import { repoRoot } from '../helpers/streams.js';
import { runCli } from './run-cli.js';

const COMMANDS: readonly CommandName[] = ['sync', 'plan', 'replicate', 'bootstrap', 'probe', 'fetch', 'worker'];

/** `--source-token <token>` -> `--source-token`; `-v, --verbose` -> `--verbose`. */
function longFlag(flags: string): string {
  return /--[a-z0-9-]+/.exec(flags)![0];
}

/** Help wraps descriptions at the terminal width: compare with whitespace collapsed. */
function squash(text: string): string {
  return text.replace(/\s+/g, ' ');
}

describe('git-sync --help and docs/usage.md', () => {
  it('every flag declares its default, and a secret never shows a value', () => {
    for (const spec of OPTION_TABLE) {
      const text = helpText(spec);
      assert.match(text, /default: /, `${spec.flags} states its default`);
      if (spec.env) assert.ok(text.includes(`env: ${spec.env}`), `${spec.flags} names ${spec.env}`);
      if (spec.secret) assert.equal(spec.defaultValue, undefined);
    }
  });

  for (const command of COMMANDS) {
    it(`git-sync ${command} --help lists every flag of the table with default and env var, and examples`, async () => {
      const run = await runCli([command, '--help']);
      assert.equal(run.code, 0, run.stderr);
      const help = squash(run.stdout);
      for (const spec of optionsFor(command)) {
        assert.ok(help.includes(spec.flags), `${command} --help shows ${spec.flags}`);
        assert.ok(help.includes(squash(helpText(spec))), `${command} --help explains ${spec.flags}: ${helpText(spec)}`);
      }
      const examples = run.stdout.split('\n').filter((line) => line.startsWith(`  $ git-sync ${command} `));
      assert.ok(examples.length >= 2 && examples.length <= 3, `${command} has two or three examples`);
    });
  }

  it('git-sync --help names every command with its purpose, examples and exit codes', async () => {
    const run = await runCli(['--help']);
    assert.equal(run.code, 0, run.stderr);
    for (const command of COMMANDS) assert.match(run.stdout, new RegExp(`^  ${command} \\[options\\] .*\\S`, 'm'));
    assert.match(run.stdout, /^Examples:$/m);
    assert.match(run.stdout, /Exit codes: 0 success/);
  });

  it('docs/usage.md documents every flag of the table', () => {
    const usage = readFileSync(path.join(repoRoot, 'docs', 'usage.md'), 'utf8');
    for (const spec of OPTION_TABLE) {
      assert.ok(usage.includes(`\`${longFlag(spec.flags)}`), `docs/usage.md documents ${longFlag(spec.flags)}`);
      if (spec.env) assert.ok(usage.includes(spec.env), `docs/usage.md names ${spec.env}`);
    }
  });
});

describe('command line details (issue 12)', () => {
  it('prints the help on stdout and exits 0 when run without arguments', async () => {
    const run = await runCli([]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: git-sync \[options\] \[command\]/);
    assert.equal(run.stderr, '');
  });

  it('answers --force with the flags that exist', async () => {
    const run = await runCli(['sync', '--force', 'a', 'b']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: unknown option '--force'$/m);
    assert.match(run.stderr, /^hint: git-sync has no --force; use --force-with-lease .* or --force-blind/m);
  });

  it("lists only a command's own flags in its help", async () => {
    const probe = await runCli(['probe', '--help']);
    assert.doesNotMatch(probe.stdout, /--branch/, 'probe takes no --branch');
    const fetch = await runCli(['fetch', '--help']);
    assert.doesNotMatch(fetch.stdout, /--target-/, 'fetch has no target');
    for (const command of COMMANDS) {
      const help = (await runCli([command, '--help'])).stdout;
      for (const flag of help.matchAll(/^\s+(--[a-z0-9-]+)/gm)) {
        if (flag[1] === '--help') continue;
        assert.ok(optionsFor(command).some((spec) => longFlag(spec.flags) === flag[1]), `${command} --help shows ${flag[1]}, which it takes`);
      }
    }
  });

  it('prints the JSON error object for a parse error under --json', async () => {
    for (const [args, key] of [[['sync', '--json', '--bogus', 'a', 'b'], 'operation'], [['fetch', '--json', '--max-pack-bytes', 'x', 'a'], 'packBytes'], [['probe', '--json', '--bogus', 'a'], 'refs']] as const) {
      const run = await runCli([...args]);
      assert.equal(run.code, 2, args.join(' '));
      const json = JSON.parse(run.stdout) as Record<string, unknown> & { error: { code: string; message: string } };
      assert.equal(json.error.code, 'USAGE');
      assert.ok(key in json, `${args[0]}'s result shape`);
      assert.match(run.stderr, /^error: /m);
    }
  });

  it('ends connection errors with a next step', async () => {
    const refused = await runCli(['probe', 'http://127.0.0.1:1/x.git']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ECONNREFUSED .*; nothing accepts connections there: check the URL's host and port, and that the server is up \[source, discover\]$/m);
    const unknown = await runCli(['probe', 'http://no-such-host.invalid/x.git']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /; the source host name does not resolve: check the URL/);
  });
});
