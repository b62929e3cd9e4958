/**
 * git's rules for ref names (git-check-ref-format(1)), as pure predicates. Each check answers
 * with the first problem found, phrased to complete "ref name 'x' ...", or null when valid.
 */

export interface RefFormatOptions {
  /** Accept names without any `/` (git's `--allow-onelevel`). Default false. */
  allowOneLevel?: boolean;
}

/** Characters git forbids anywhere in a ref name, besides control characters and DEL. */
const FORBIDDEN_CHARACTERS: ReadonlyMap<string, string> = new Map([
  [' ', 'a space'],
  ['~', "'~'"],
  ['^', "'^'"],
  [':', "':'"],
  ['?', "'?'"],
  ['*', "'*' (patterns are not supported)"],
  ['[', "'['"],
  ['\\', "'\\'"],
]);

/** Control characters, DEL, and FORBIDDEN_CHARACTERS. */
const FORBIDDEN = /[\u0000-\u001f\u007f ~^:?*[\\]/;

/**
 * Matches every name with a '/' that one of the checks below refuses (and a few more: a match
 * only means "look closer"). A valid name, the common case, is then one native scan: every ref
 * of both listings passes through here, 20,000 names in a no-op over 10,000 refs, in code V8
 * runs for the first time (docs/architecture.md, "No-op runs at scale").
 */
const MAYBE_REFUSED = /[\u0000-\u0020\u007f~^:?*[\\]|\.\.|@\{|^\/|\/$|\/\/|\.$|^\.|\/\.|\.lock(?:$|\/)/;

/** The default options, one object: a default `{}` would be a new one per call, 20,000 on a no-op of 10,000 refs. */
const NO_OPTIONS: RefFormatOptions = {};

export function refNameProblem(name: string, options: RefFormatOptions = NO_OPTIONS): string | null {
  if (name.includes('/') && !MAYBE_REFUSED.test(name)) return null;
  if (name.length === 0) return 'is empty';
  if (name === '@') return "is the single character '@'";
  // One native scan for the first forbidden character: every ref a server lists is checked
  // (plan/listed-refs.ts), and a loop over the characters cost 2 us a name.
  const found = FORBIDDEN.exec(name);
  if (found !== null) {
    const code = found[0].charCodeAt(0);
    if (code < 0x20 || code === 0x7f) return `contains the control character 0x${code.toString(16).padStart(2, '0')}`;
    return `contains ${FORBIDDEN_CHARACTERS.get(found[0])}`;
  }
  if (name.includes('..')) return "contains '..'";
  if (name.includes('@{')) return "contains '@{'";
  if (name.startsWith('/')) return "begins with '/'";
  if (name.endsWith('/')) return "ends with '/'";
  if (name.includes('//')) return "contains '//'";
  if (name.endsWith('.')) return "ends with '.'";
  // Components are looked at only when one is wrong: every listed name passes through here, and
  // splitting each into an array cost more than the rest of the checks together.
  if (name.startsWith('.') || name.includes('/.') || name.endsWith('.lock') || name.includes('.lock/')) {
    for (const component of name.split('/')) {
      if (component.startsWith('.')) return `has a component beginning with '.' (${component})`;
      if (component.endsWith('.lock')) return `has a component ending with '.lock' (${component})`;
    }
  }
  if (!options.allowOneLevel && !name.includes('/')) return "has no '/' (a full name looks like refs/heads/main)";
  return null;
}

export function isValidRefName(name: string, options: RefFormatOptions = NO_OPTIONS): boolean {
  return refNameProblem(name, options) === null;
}

/**
 * A short branch name as `git check-ref-format --branch` accepts it: `refs/heads/<name>` must be
 * valid, and the name may not begin with `-` (it would read as an option) nor be `HEAD`.
 */
export function branchNameProblem(shortName: string): string | null {
  if (shortName.length === 0) return 'is empty';
  if (shortName.startsWith('-')) return "begins with '-'";
  if (shortName === 'HEAD') return "is 'HEAD', which is never a managed ref";
  return refNameProblem(`refs/heads/${shortName}`);
}
