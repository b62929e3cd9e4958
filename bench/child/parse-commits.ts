/**
 * Child process of the `plan` scenario: parses a pack file with `extractCommits` (as planning
 * does with a commits-only fetch) and prints one JSON line. Run alone, so its peak RSS is the
 * parser's plus Node's own baseline, which is printed too.
 *
 *   node dist/bench/child/parse-commits.js <file.pack>
 */
import { createReadStream } from 'node:fs';
import { enableGcPacing, noteStreamedBytes } from '../../src/observe/gc-pacer.js';
import { extractCommits } from '../../src/pack/commit-extractor.js';

export interface ParseCommitsOutput {
  elapsedMillis: number;
  commits: number;
  graphBytes: number;
  /** ru_maxrss before parsing: Node's own footprint with the modules loaded. */
  baselineRssBytes: number;
  peakRssBytes: number;
  summary: Awaited<ReturnType<typeof extractCommits>>['summary'];
}

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: parse-commits <file.pack>\n');
  process.exitCode = 2;
} else {
  const baselineRssBytes = process.resourceUsage().maxRSS * 1024;
  const started = performance.now();
  // As the CLI runs: GC pacing on, and every byte noted as it arrives (the transports do this
  // for fetched packs; here the pack comes from a file).
  enableGcPacing();
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(path!)) {
      noteStreamedBytes((chunk as Buffer).length);
      yield chunk as Buffer;
    }
  }
  const { graph, summary } = await extractCommits(counted());
  const output: ParseCommitsOutput = {
    elapsedMillis: performance.now() - started,
    commits: graph.size,
    graphBytes: graph.byteSize,
    baselineRssBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    summary,
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}
