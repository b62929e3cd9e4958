/**
 * The user's own git credential helpers, through `git credential fill|approve|reject`
 * (git-credential(1), "INPUT/OUTPUT FORMAT"): `key=value` lines on stdin, a blank line or EOF
 * to end; `fill` answers in the same format. git applies the user's configuration
 * (`credential.helper`, `credential.useHttpPath`, per-URL sections), so git-sync finds exactly
 * the credentials `git fetch` would.
 *
 * `GIT_TERMINAL_PROMPT=0`: git-sync runs in CI and scripts, so a missing credential must fail
 * instead of waiting on a terminal prompt (an askpass program the user configured still runs,
 * as it would for git).
 */
import { spawn } from 'node:child_process';
import { childEnv } from './child-env.js';
import type { Credential, CredentialProvider, CredentialRequest } from './credential-provider.js';

/** A helper that takes longer than this (a forgotten GUI prompt) is killed; the run goes on without it. */
export const CREDENTIAL_HELPER_TIMEOUT_MILLIS = 120_000;

/** Helpers answer a handful of short lines; anything past this is not a credential. */
const MAX_OUTPUT_BYTES = 64 * 1024;

type Action = 'fill' | 'approve' | 'reject';

/** Attributes git-sync sets itself; everything else a helper returns is kept for approve/reject. */
const OWN_KEYS = new Set(['protocol', 'host', 'path', 'username', 'password', 'url']);

/**
 * The stdin of `git credential`. Null when a value cannot be sent safely: the format has no
 * quoting, so a newline or NUL (say, from a crafted URL) would inject attributes, and so would a
 * carriage return: a git without the CVE-2024-52006 fix passes a bare CR on to helpers that
 * read it as a line end (docs/security.md, "git's own protocol rules").
 */
export function formatCredentialInput(request: CredentialRequest, credential: Credential | null): string | null {
  const pairs: [string, string][] = [
    ['protocol', request.protocol],
    ['host', request.host],
  ];
  if (request.path !== '') pairs.push(['path', request.path]);
  const username = credential?.username ?? request.username;
  if (username !== null) pairs.push(['username', username]);
  if (credential !== null) {
    pairs.push(['password', credential.password]);
    for (const [key, value] of Object.entries(credential.attributes)) pairs.push([key, value]);
  }
  if (pairs.some(([key, value]) => /[\r\n\0=]/.test(key) || /[\r\n\0]/.test(value))) return null;
  return `${pairs.map(([key, value]) => `${key}=${value}`).join('\n')}\n\n`;
}

/** `fill`'s answer as a credential; null unless it has both a user name and a password. */
export function parseCredentialOutput(text: string): Credential | null {
  let username: string | null = null;
  let password: string | null = null;
  const attributes: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') break;
    const equals = line.indexOf('=');
    if (equals <= 0) continue;
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1);
    if (key === 'username') username = value;
    else if (key === 'password') password = value;
    else if (!OWN_KEYS.has(key)) attributes[key] = value;
  }
  if (username === null || password === null || password === '') return null;
  return { username, password, attributes };
}

export interface GitCredentialHelperOptions {
  /** Environment of the `git` process (default: this process's); `GIT_TERMINAL_PROMPT=0` is added. */
  env?: NodeJS.ProcessEnv;
  /** The git binary (default `git` on PATH). */
  git?: string;
  timeoutMillis?: number;
}

/** `git credential` as a CredentialProvider. Failures mean "no credential", never an error. */
export class GitCredentialHelper implements CredentialProvider {
  constructor(private readonly options: GitCredentialHelperOptions = {}) {}

  async fill(request: CredentialRequest, signal?: AbortSignal): Promise<Credential | null> {
    const input = formatCredentialInput(request, null);
    if (input === null) return null;
    const result = await this.run('fill', input, signal);
    return result.code === 0 ? parseCredentialOutput(result.stdout) : null;
  }

  async approve(request: CredentialRequest, credential: Credential): Promise<void> {
    const input = formatCredentialInput(request, credential);
    if (input !== null) await this.run('approve', input);
  }

  async reject(request: CredentialRequest, credential: Credential): Promise<void> {
    const input = formatCredentialInput(request, credential);
    if (input !== null) await this.run('reject', input);
  }

  private run(action: Action, input: string, signal?: AbortSignal): Promise<{ code: number | null; stdout: string }> {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve({ code: null, stdout: '' });
        return;
      }
      const child = spawn(this.options.git ?? 'git', ['credential', action], {
        env: { ...childEnv(this.options.env ?? process.env), GIT_TERMINAL_PROMPT: '0' },
        stdio: ['pipe', 'pipe', 'ignore'],
        signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => child.kill('SIGKILL'), this.options.timeoutMillis ?? CREDENTIAL_HELPER_TIMEOUT_MILLIS);
      timer.unref();
      child.stdout.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_OUTPUT_BYTES) chunks.push(chunk);
        else child.kill('SIGKILL');
      });
      // git missing, killed by the signal, or gone before reading its input: no credential.
      child.on('error', () => undefined);
      child.stdin.on('error', () => undefined);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: size > MAX_OUTPUT_BYTES ? null : code, stdout: Buffer.concat(chunks).toString('utf8') });
      });
      child.stdin.end(input);
    });
  }
}
