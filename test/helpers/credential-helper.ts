/**
 * A git credential helper for tests: a shell script that records every call git makes to it
 * (`get`, `store`, `erase`, with the attributes git passed) and answers `get` with a fixed
 * credential, or with nothing. Wire it in with `env` (git's GIT_CONFIG_COUNT variables).
 *
 *   const helper = recordingCredentialHelper({ username: 'git', password: 's3cret' });
 *   await runCli(['probe', url], helper.env);
 *   assert.deepEqual(helper.calls().map((c) => c.action), ['get', 'store']);
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configEnv, makeTempDir } from './git.js';

export interface CredentialHelperCall {
  /** What git asked the helper: `get` (fill), `store` (approve), `erase` (reject). */
  action: 'get' | 'store' | 'erase';
  attributes: Record<string, string>;
}

export interface RecordingCredentialHelper {
  /** GIT_CONFIG_* variables that make git use this helper (and nothing else). */
  readonly env: Record<string, string>;
  /** Every call so far, in order. */
  calls(): CredentialHelperCall[];
  clear(): void;
  remove(): Promise<void>;
}

export interface RecordingCredentialHelperOptions {
  /** The answer to `get`; none: the helper knows nothing. */
  username?: string;
  password?: string;
  /** Extra git config, e.g. `{'credential.useHttpPath': 'true'}`. */
  config?: Readonly<Record<string, string>>;
}

export function recordingCredentialHelper(options: RecordingCredentialHelperOptions = {}): RecordingCredentialHelper {
  const dir = makeTempDir('gitsync-credential-helper-');
  const script = path.join(dir.path, 'helper.sh');
  const log = path.join(dir.path, 'calls.log');
  const answer = path.join(dir.path, 'answer');
  if (options.password !== undefined) writeFileSync(answer, `username=${options.username ?? 'git'}\npassword=${options.password}\n`);
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      // git gives the action as the last argument and the attributes on stdin.
      'input=$(cat)',
      `printf 'action=%s\\n%s\\n\\n' "$1" "$input" >> '${log}'`,
      `if [ "$1" = get ] && [ -f '${answer}' ]; then cat '${answer}'; fi`,
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  return {
    env: configEnv({ 'credential.helper': script, ...options.config }),
    calls() {
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .split('\n\n')
        .filter((block) => block.trim() !== '')
        .map((block) => {
          const attributes: Record<string, string> = {};
          let action = '';
          for (const line of block.split('\n')) {
            const equals = line.indexOf('=');
            if (equals <= 0) continue;
            const key = line.slice(0, equals);
            const value = line.slice(equals + 1);
            if (key === 'action') action = value;
            else attributes[key] = value;
          }
          return { action: action as CredentialHelperCall['action'], attributes };
        });
    },
    clear() {
      writeFileSync(log, '');
    },
    remove: () => dir.remove(),
  };
}
