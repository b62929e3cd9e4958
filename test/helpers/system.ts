/**
 * System packages the tests need, and starting several servers at once.
 *
 * A test that needs a program from a system package (sshd, say) skips loudly on a developer's
 * machine that lacks it, naming the package to install; under CI (`CI` set, as `.ci/run` runs),
 * where every package is installed, it never skips: the test runs and fails.
 *
 *   describe('ssh transport', { skip: missingSystemTool(SSHD_BINARY, 'openssh-server') }, () => { ... });
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Every Debian package the tests need beyond Node and git: the one command that installs them. */
export const INSTALL_TEST_PACKAGES = 'sudo apt-get install openssh-server openssh-client openssl bsdutils chromium';

/** True under CI, where skipping for a missing package is forbidden. */
export function underCi(): boolean {
  const value = process.env['CI'];
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/**
 * A skip message when `path` is not an executable and this is not CI (printed once, to stderr,
 * so the skip is seen); false when the tests can run (or must, under CI).
 */
export function missingSystemTool(path: string, debianPackage: string): string | false {
  if (executable(path) || underCi()) return false;
  return skipLoudly(path, debianPackage);
}

/** As missingSystemTool, for a command looked up on PATH (`openssl`, `script`). */
export function missingCommand(command: string, debianPackage: string): string | false {
  const found = (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, command)));
  if (found || underCi()) return false;
  return skipLoudly(command, debianPackage);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function skipLoudly(what: string, debianPackage: string): string {
  const message = `SKIPPED: ${what} is missing; install the ${debianPackage} package to run these tests (CI never skips them). Everything the tests need: ${INSTALL_TEST_PACKAGES}`;
  process.stderr.write(`${message}\n`);
  return message;
}

/** Something started that must be stopped. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * Starts servers concurrently. When any start fails, the ones that did start are closed before
 * the error is rethrown, so a failed setup never leaves a process that keeps the test file alive.
 */
export async function startAll<T extends readonly (() => Promise<Closable>)[]>(
  ...starts: T
): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const settled = await Promise.allSettled(starts.map((start) => start()));
  const failure = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure !== undefined) {
    await Promise.allSettled(settled.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)));
    throw failure.reason;
  }
  return settled.map((result) => (result as PromiseFulfilledResult<Closable>).value) as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
}
