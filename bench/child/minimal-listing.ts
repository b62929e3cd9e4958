/**
 * Child process of the `noop` scenario: the least a Node.js program can do to find a mirror
 * current, written for the bench and nothing else, so that the CLI's figure can be set against
 * what node itself costs, not only against git's C. It imports nothing but `node:http`: no
 * framework, no error handling worth the name, no output beyond one JSON line. It lists both
 * sides over smart HTTP as git-sync does (the source's info/refs and its v2 ls-refs sent at once,
 * the target's receive-pack advertisement), reads every ref line into a map and compares them.
 * Run cold, once per process, it is the floor of a no-op for any Node.js CLI: node's start, the
 * http module, the requests, and one pass of first-run code over every ref line.
 *
 *   node dist/bench/child/minimal-listing.js <source-url> <target-url>
 */
import http from 'node:http';

export interface MinimalListingOutput {
  sourceRefs: number;
  targetRefs: number;
  /** Refs whose value differs, or that one side lacks: 0 on a current mirror. */
  differing: number;
}

const agent = new http.Agent({ keepAlive: true });

function request(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`${method} ${url}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Every pkt-line's payload (flush and delimiter packets skipped), newline removed. */
function* lines(body: Buffer): Generator<[number, number]> {
  for (let at = 0; at + 4 <= body.length; ) {
    const length = parseInt(body.toString('latin1', at, at + 4), 16);
    if (length < 4) {
      at += 4;
      continue;
    }
    const end = at + length;
    yield [at + 4, body[end - 1] === 0x0a ? end - 1 : end];
    at = end;
  }
}

/** `<oid> <name>[\0capabilities | attributes]` lines into name -> oid. */
function refs(body: Buffer, into: Map<string, string>): void {
  for (const [start, stop] of lines(body)) {
    if (stop - start < 42 || body[start + 40] !== 0x20) continue;
    let nameEnd = start + 41;
    while (nameEnd < stop && body[nameEnd] !== 0x20 && body[nameEnd] !== 0) nameEnd++;
    const name = body.toString('utf8', start + 41, nameEnd);
    if (name !== 'HEAD' && name !== 'capabilities^{}') into.set(name, body.toString('latin1', start, start + 40));
  }
}

function pkt(text: string): string {
  return (text.length + 4).toString(16).padStart(4, '0') + text;
}

async function main(): Promise<void> {
  const [source, target] = process.argv.slice(2);
  if (source === undefined || target === undefined) throw new Error('usage: minimal-listing <source-url> <target-url>');
  const v2 = { 'git-protocol': 'version=2' };
  const lsRefs = Buffer.from(`${pkt('command=ls-refs\n')}${pkt('agent=git/2.39.5\n')}${pkt('object-format=sha1\n')}0001${pkt('peel\n')}${pkt('symrefs\n')}${pkt('unborn\n')}0000`, 'latin1');
  const [, sourceBody, targetBody] = await Promise.all([
    request(`${source}/info/refs?service=git-upload-pack`, 'GET', v2),
    request(`${source}/git-upload-pack`, 'POST', { ...v2, 'content-type': 'application/x-git-upload-pack-request', accept: 'application/x-git-upload-pack-result' }, lsRefs),
    request(`${target}/info/refs?service=git-receive-pack`, 'GET', {}),
  ]);
  const sourceRefs = new Map<string, string>();
  const targetRefs = new Map<string, string>();
  refs(sourceBody, sourceRefs);
  refs(targetBody, targetRefs);
  let differing = 0;
  for (const [name, oid] of sourceRefs) if (targetRefs.get(name) !== oid) differing++;
  for (const name of targetRefs.keys()) if (!sourceRefs.has(name)) differing++;
  const output: MinimalListingOutput = { sourceRefs: sourceRefs.size, targetRefs: targetRefs.size, differing };
  process.stdout.write(`${JSON.stringify(output)}\n`);
  agent.destroy();
}

await main();
