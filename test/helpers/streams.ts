/** Test helpers: byte streams cut into chunks of chosen sizes, and captured transcripts. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root: compiled tests run from dist/test/..., sources live in test/... */
export const repoRoot = path.resolve(here, '..', '..', '..');

export function transcript(name: string): Buffer {
  return readFileSync(path.join(repoRoot, 'test', 'fixtures', 'transcripts', name));
}

export function transcriptHashes(): Record<string, string> {
  const text = readFileSync(path.join(repoRoot, 'test', 'fixtures', 'transcripts', 'hashes.txt'), 'utf8');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => line.split('=') as [string, string]),
  );
}

/** Yields `data` in chunks of `size` bytes (1 exercises every boundary). */
export async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) {
    yield data.subarray(offset, Math.min(offset + size, data.length));
  }
}

export async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}
