/**
 * Text from servers (ref names, `ERR` packets, sideband progress and hook output, HTTP error bodies
 * and headers) made safe to show on a terminal (docs/security.md, "Clean terminals and valid ref
 * names"). A terminal acts on control characters: ESC starts sequences that set the window title,
 * colours or the clipboard, CR sends the cursor back to overwrite a line, and in the C1 range
 * U+009B is an 8-bit CSI. Nothing a server sends may reach the terminal as one.
 *
 * - C0 controls and DEL in caret notation, as `cat -v` shows them: ESC `^[`, CR `^M`, LF `^J`,
 *   TAB `^I`, NUL `^@`, DEL `^?`;
 * - C1 controls (U+0080 to U+009F), the Unicode line and paragraph separators and the
 *   bidirectional formatting characters (which reorder what a line shows) as `<U+XXXX>`.
 *
 * Everything else, including the printable `^` and `<` themselves, is left as it is: the result is
 * for reading, not for parsing back.
 */

/** What `escapeControlCharacters` rewrites: C0, DEL and C1, U+061C, U+200E/F, U+2028 to U+202E, U+2066 to U+2069. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** The same but LF: for text whose lines git-sync itself ended (a whole output). */
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw of the above (it escapes C0 itself). */
const JSON_RAW = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

function shown(character: string): string {
  const code = character.charCodeAt(0);
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return '^?';
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}

export interface EscapeOptions {
  /** Keep line feeds: for a whole output whose lines git-sync ended itself. Default false. */
  keepNewlines?: boolean;
}

/** True when `text` holds a character escapeControlCharacters would rewrite. */
export function hasControlCharacters(text: string, options: EscapeOptions = {}): boolean {
  const pattern = options.keepNewlines === true ? CONTROL_BUT_NEWLINE : CONTROL;
  pattern.lastIndex = 0;
  return pattern.test(text);
}

/** `text` with every control character escaped (module comment); one line stays one line. */
export function escapeControlCharacters(text: string, options: EscapeOptions = {}): string {
  if (!hasControlCharacters(text, options)) return text;
  const pattern = options.keepNewlines === true ? CONTROL_BUT_NEWLINE : CONTROL;
  pattern.lastIndex = 0;
  return text.replace(pattern, shown);
}

/**
 * JSON text (from JSON.stringify) with the characters it leaves raw written as `\uXXXX` escapes:
 * the document parses to exactly the same values, and shows no control character when printed.
 * Safe on any JSON text: outside strings JSON is ASCII, so every match is inside a string.
 */
export function escapeJsonText(json: string): string {
  JSON_RAW.lastIndex = 0;
  return JSON_RAW.test(json) ? json.replace(JSON_RAW, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}
