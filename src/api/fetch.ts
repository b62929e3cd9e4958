/** `fetch`: negotiate and download the source pack, verify it while it streams, count objects. */
import { UsageError } from '../errors.js';
import { PackReader } from '../pack/pack-reader.js';
import { UploadPackSession } from '../protocol/upload-pack-session.js';
import { isOid, type InvalidRefName, type Oid, type ProtocolVersion } from '../types.js';
import type { CommonOptions, EndpointOptions, Observed, RefSelection } from './options.js';
import { refCandidates, resolveRefName } from '../plan/index.js';
import { assertNamedRefsListed, selectRefs, selectionPrefixes, selectionScope } from './ref-selection.js';
import { RunContext } from './run-context.js';

export interface FetchOptions extends CommonOptions, RefSelection {
  source: EndpointOptions;
  /** Source refs whose tips count as objects the client already has. */
  haveRefs?: readonly string[];
  /** Object ids sent as haves. */
  haves?: readonly string[];
  /** Abort once the pack grows past this many bytes. */
  maxPackBytes?: number;
  /** Receives every pack chunk as it arrives (awaited: a slow consumer slows the download). */
  onPackData?: (chunk: Buffer) => void | Promise<void>;
}

export interface ObjectCounts {
  commit: number;
  tree: number;
  blob: number;
  tag: number;
  total: number;
}

export interface FetchResult extends Observed {
  /** `invalidRefs`: names the source listed that git refuses, skipped (plan/listed-refs.ts). */
  source: { url: string; protocol: ProtocolVersion; head: string | null; invalidRefs: InvalidRefName[] };
  wants: { name: string; hash: string }[];
  haves: string[];
  packBytes: number;
  objects: ObjectCounts;
}

function validateHaves(options: FetchOptions): void {
  for (const hash of options.haves ?? []) {
    if (!isOid(hash)) throw new UsageError(`--have ${JSON.stringify(hash)} is not a full object id (40 or 64 lowercase hex digits)`);
  }
  for (const ref of options.haveRefs ?? []) {
    if (ref.trim() === '' || ref.endsWith('/')) throw new UsageError(`--have-ref ${JSON.stringify(ref)} is not a ref name (main, heads/main or refs/heads/main)`);
  }
}

export async function fetch(options: FetchOptions): Promise<FetchResult> {
  const scope = selectionScope(options);
  validateHaves(options);
  const context = new RunContext(options);
  const endpoint = context.endpoint(options.source);
  // Pack bytes already handed to the caller cannot be taken back: a retry would repeat them.
  const delivered = { any: false };
  try {
    const result = await context.retrying(() => fetchOnce(options, scope, context, endpoint, delivered), () => !delivered.any);
    await context.succeeded();
    return { ...result, ...context.finish() };
  } finally {
    context.finish();
    await context.close();
  }
}

/** One attempt: list the source, fetch, read the pack through. */
async function fetchOnce(
  options: FetchOptions,
  scope: ReturnType<typeof selectionScope>,
  context: RunContext,
  endpoint: ReturnType<RunContext['endpoint']>,
  delivered: { any: boolean },
): Promise<Omit<FetchResult, keyof Observed>> {
  const transport = context.transport('source', endpoint, options.source);
  // Short --have-ref names are resolved as git does (main -> refs/heads/main): list every candidate.
  const prefixes = options.allRefs ? [] : [...selectionPrefixes(scope), ...(options.haveRefs ?? []).flatMap(refCandidates)];
  context.observer.phase('discover');
  const session = await UploadPackSession.open(transport, {
    protocol: options.protocol ?? 'auto',
    refPrefixes: prefixes,
    observer: context.observer,
    signal: context.signal,
  });
  try {
    const { discovery } = session;
    const listed = new Map(discovery.refs.map((ref) => [ref.name, ref] as const));
    const haveRefs = (options.haveRefs ?? []).map((given) => ({ given, name: resolveRefName(given, new Set(listed.keys())) }));
    await assertNamedRefsListed(
      scope,
      session,
      haveRefs.filter((ref) => ref.name === null).map((ref) => ({ given: '--have-ref', ref: ref.given })),
      context.signal,
    );
    const wanted = selectRefs(discovery.refs, scope);
    const haves = new Set<Oid>((options.haves ?? []) as Oid[]);
    for (const ref of haveRefs) haves.add(listed.get(ref.name!)!.hash);
    const wants = [...new Set(wanted.map((ref) => ref.hash))];
    const objects: ObjectCounts = { commit: 0, tree: 0, blob: 0, tag: 0, total: 0 };
    let packBytes = 0;
    if (wants.length > 0) {
      context.observer.decision(`fetch: ${wants.length} want(s), ${haves.size} have(s), protocol ${discovery.protocol}`);
      context.observer.phase('fetch');
      const response = await session.fetch({
        wants,
        haves: [...haves],
        onProgress: context.observer.serverProgress('source') ?? undefined,
        signal: context.signal,
      });
      const reader = new PackReader({ maxBytes: options.maxPackBytes, signal: context.signal, objectFormat: discovery.capabilities.objectFormat() });
      for await (const chunk of response.pack) {
        await reader.write(chunk);
        if (options.onPackData) {
          delivered.any = true;
          await options.onPackData(chunk);
        }
      }
      const summary = await reader.end();
      packBytes = summary.bytes;
      Object.assign(objects, summary.objects);
    }
    return {
      source: { url: transport.displayUrl, protocol: discovery.protocol, head: discovery.head, invalidRefs: discovery.invalidRefs },
      wants: wanted.map((ref) => ({ name: ref.name, hash: ref.hash })),
      haves: [...haves],
      packBytes,
      objects,
    };
  } finally {
    await session.close();
  }
}
