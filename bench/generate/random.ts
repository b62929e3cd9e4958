/**
 * Deterministic pseudo-randomness for generated histories: the same seed gives the same bytes,
 * hence the same object ids, on every machine, so a cached repository and a regenerated one are
 * the same repository.
 */

import { randomSource } from '../../test/helpers/random.js';

export { randomSource };

export function randomInt(random: () => number, below: number): number {
  return Math.floor(random() * below);
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[randomInt(random, items.length)]!;
}

const SYLLABLES = ['ba', 'co', 'de', 'fi', 'gu', 'ha', 'jo', 'ka', 'li', 'mo', 'nu', 'pa', 're', 'si', 'to', 'vu', 'we', 'xi', 'yo', 'za', 'st', 'tr', 'ch', 'sh'];
const KEYWORDS = ['const', 'let', 'return', 'if', 'else', 'for', 'while', 'function', 'async', 'await', 'export', 'import', 'new', 'throw', 'case', 'break'];
const OPERATORS = ['===', '!==', '<', '>', '<=', '>=', '+', '-', '*', '&&', '||', '??'];
const WORDS = ['the', 'value', 'when', 'buffer', 'is', 'not', 'empty', 'we', 'keep', 'each', 'entry', 'until', 'flush', 'so', 'that', 'callers', 'see', 'order', 'of', 'writes', 'retry', 'after', 'timeout', 'index', 'offset', 'length'];

function identifier(random: () => number): string {
  const parts = 2 + randomInt(random, 3);
  let name = '';
  for (let i = 0; i < parts; i++) name += pick(random, SYLLABLES);
  return random() < 0.3 ? name.charAt(0).toUpperCase() + name.slice(1) : name;
}

/**
 * Lines that look like source code: identifiers from a fixed vocabulary in a handful of statement
 * shapes, indented. A file made of them compresses about as well as real code does (3-4x), and
 * two versions of a file differ the way edited code does, so deltas stay small.
 */
export function sourceLinePool(size: number, seed: number): string[] {
  const random = randomSource(seed);
  const vocabulary = Array.from({ length: 2000 }, () => identifier(random));
  const id = (): string => pick(random, vocabulary);
  const shapes: (() => string)[] = [
    () => `const ${id()} = ${id()}.${id()}(${id()}, ${randomInt(random, 1000)});`,
    () => `let ${id()} = ${id()}(${id()});`,
    () => `if (${id()} ${pick(random, OPERATORS)} ${id()}) return ${id()};`,
    () => `${pick(random, KEYWORDS)} ${id()}(${id()}, ${id()}) {`,
    () => `${id()}.${id()} = ${id()} ${pick(random, OPERATORS)} ${randomInt(random, 100)};`,
    () => `// ${Array.from({ length: 3 + randomInt(random, 8) }, () => pick(random, WORDS)).join(' ')}`,
    () => `await this.${id()}.${id()}({ ${id()}: ${id()}, ${id()} });`,
    () => `throw new ${id()}Error('${id()} ${pick(random, WORDS)} ${id()}');`,
    () => '}',
    () => '',
  ];
  return Array.from({ length: size }, () => {
    const line = pick(random, shapes)();
    return line === '' ? line : ' '.repeat(2 * randomInt(random, 5)) + line;
  });
}
