/**
 * Capability lists (gitprotocol-capabilities). In v0/v1 they follow a NUL on the first ref line,
 * space separated, `name` or `name=value`; a name may repeat (`symref=HEAD:refs/heads/main`
 * once per symbolic ref). In v2 each capability is its own packet after `version 2`, and a
 * value may itself be a space-separated list (`fetch=shallow filter`).
 */
import type { ObjectFormat } from '../types.js';

export class Capabilities {
  private readonly entries: Map<string, string[]>;

  constructor(entries: Iterable<readonly [string, string | null]> = []) {
    this.entries = new Map();
    for (const [name, value] of entries) this.add(name, value);
  }

  private add(name: string, value: string | null): void {
    const values = this.entries.get(name) ?? [];
    if (value !== null) values.push(value);
    this.entries.set(name, values);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The first value of `name=value`, or null when absent or valueless. */
  get(name: string): string | null {
    return this.entries.get(name)?.[0] ?? null;
  }

  /** Every value of a multi-valued capability, in order. */
  getAll(name: string): string[] {
    return [...(this.entries.get(name) ?? [])];
  }

  /** For v2 commands: does `command=a b c` list `feature`? */
  commandHas(command: string, feature: string): boolean {
    const value = this.get(command);
    return value !== null && value.split(' ').includes(feature);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Capabilities rendered back as `name` / `name=value` strings, in advertisement order. */
  toList(): string[] {
    const out: string[] = [];
    for (const [name, values] of this.entries) {
      if (values.length === 0) out.push(name);
      else for (const value of values) out.push(`${name}=${value}`);
    }
    return out;
  }

  /** `symref=HEAD:refs/heads/main` entries as a map from ref to target. */
  symrefs(): Map<string, string> {
    const out = new Map<string, string>();
    for (const value of this.getAll('symref')) {
      const colon = value.indexOf(':');
      if (colon > 0) out.set(value.slice(0, colon), value.slice(colon + 1));
    }
    return out;
  }

  /** `object-format`, defaulting to sha1 as git does when the capability is absent. */
  objectFormat(): ObjectFormat {
    return this.get('object-format') === 'sha256' ? 'sha256' : 'sha1';
  }
}

function splitCapability(token: string): [string, string | null] {
  const eq = token.indexOf('=');
  return eq < 0 ? [token, null] : [token.slice(0, eq), token.slice(eq + 1)];
}

/** Parses the v0/v1 capability string that follows the NUL on the first advertised ref. */
export function parseV1Capabilities(text: string): Capabilities {
  return new Capabilities(
    text
      .split(' ')
      .filter((token) => token.length > 0)
      .map(splitCapability),
  );
}

/** Parses v2 capability advertisement lines (one capability per line, without `version 2`). */
export function parseV2Capabilities(lines: readonly string[]): Capabilities {
  return new Capabilities(lines.filter((line) => line.length > 0).map(splitCapability));
}
