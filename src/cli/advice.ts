/**
 * The CLI's words for the library's advice (errors.ts, `Advice`): the next steps that are flags
 * of this command line. The library's messages state facts; the flag names are the CLI's.
 */
import type { Advice } from '../errors.js';

export function adviceText(advice: Advice): string {
  switch (advice.kind) {
    case 'credentials': {
      const flags = `--${advice.side}-token (or GITSYNC_${advice.side.toUpperCase()}_TOKEN) or --${advice.side}-bearer-token`;
      switch (advice.situation) {
        case 'missing':
          return `pass ${flags}`;
        case 'refused':
          return `check ${flags}`;
        case 'forbidden':
          return `check ${flags} and the repository's permissions`;
        case 'helper-refused':
          return `or pass ${flags}`;
      }
      break;
    }
    case 'follow-redirect':
      return `or pass --${advice.side}-follow-info-refs-redirect to send every request where info/refs leads`;
    case 'skip-tls-verify':
      return `or pass --${advice.side}-insecure-skip-tls-verify`;
    case 'raise-ref-listing-limit':
      return 'if the repository really lists that many refs, pass a larger --max-ref-listing-bytes (or GITSYNC_MAX_REF_LISTING_BYTES)';
  }
  return '';
}
