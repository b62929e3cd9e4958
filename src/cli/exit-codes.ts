/** docs/json.md, "error": how outcomes map to exit codes, and errors to one line on stderr. */
import { GitSyncError } from '../errors.js';
import { redactSecrets } from '../observe/redact.js';
import { adviceText } from './advice.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_REFUSED = 3;

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof GitSyncError)) return EXIT_FAILURE;
  if (error.code === 'USAGE' || error.code === 'SOURCE_REF_MISSING') return EXIT_USAGE;
  if (error.code === 'REF_BLOCKED') return EXIT_REFUSED;
  return EXIT_FAILURE;
}

export interface ErrorReport {
  code: string;
  message: string;
}

/** The error as docs/json.md's `{code, message}`, secrets scrubbed once more as a last line of defence. */
export function errorReport(error: unknown, secrets: readonly (string | undefined)[]): ErrorReport {
  if (error instanceof GitSyncError) {
    // The library says what happened; the next step that is one of our flags is ours to add.
    const advice = error.advice === null ? '' : `; ${adviceText(error.advice)}`;
    return { code: error.code, message: redactSecrets(`${error.message}${advice}`, secrets) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: redactSecrets(message, secrets) };
}
