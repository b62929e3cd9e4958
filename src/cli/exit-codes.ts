/** docs/json.md, "error": how outcomes map to exit codes, and errors to one line on stderr. */
import { GitSyncError } from '../errors.js';
import { redactSecrets } from '../observe/redact.js';
import { escapeControlCharacters } from '../observe/terminal-text.js';
import { adviceText } from './advice.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_REFUSED = 3;

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof GitSyncError)) return EXIT_FAILURE;
  if (error.code === 'USAGE' || error.code === 'SOURCE_REF_MISSING' || error.code === 'PROTOCOL_NOT_ALLOWED' || error.code === 'MANIFEST_INVALID') return EXIT_USAGE;
  if (error.code === 'REF_BLOCKED') return EXIT_REFUSED;
  return EXIT_FAILURE;
}

export interface ErrorReport {
  code: string;
  message: string;
  /** The side whose server or data failed, when known. */
  side: 'source' | 'target' | null;
  /** What the run was doing (a RunPhase), when known. */
  phase: string | null;
}

/** The error as docs/json.md's error object, secrets scrubbed once more as a last line of defence. */
export function errorReport(error: unknown, secrets: readonly (string | undefined)[]): ErrorReport {
  if (error instanceof GitSyncError) {
    // The library says what happened; the next step that is one of our flags is ours to add.
    const advice = error.advice === null ? '' : `; ${adviceText(error.advice)}`;
    return { code: error.code, message: redactSecrets(`${error.message}${advice}`, secrets), side: error.side, phase: error.phase };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: redactSecrets(message, secrets), side: null, phase: null };
}

/**
 * The stderr line: the message, then where it failed when that is known (`source, ancestry`).
 * One line whatever a server put in the message (an `ERR` packet, an HTTP body, a hook's words):
 * its control characters are escaped (observe/terminal-text.ts).
 */
export function errorLine(report: ErrorReport): string {
  const where = [report.side, report.phase].filter((part) => part !== null).join(', ');
  return escapeControlCharacters(`error: ${report.message}${where === '' ? '' : ` [${where}]`}`);
}
