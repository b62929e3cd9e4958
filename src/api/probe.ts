/** `probe`: what a source (and optionally a target) says about itself, pushing nothing. */
import { ReceivePackSession } from '../protocol/receive-pack-session.js';
import { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { InvalidRefName, ProtocolVersion } from '../types.js';
import type { CommonOptions, EndpointOptions, Observed, RefSelection } from './options.js';
import { selectRefs, selectionPrefixes, selectionScope } from './ref-selection.js';
import { RunContext } from './run-context.js';

export interface ProbeOptions extends CommonOptions, RefSelection {
  source: EndpointOptions;
  target?: EndpointOptions | null;
}

export interface ProbeResult extends Observed {
  /** `invalidRefs` (both sides): names the server listed that git refuses, skipped (plan/listed-refs.ts). */
  source: { url: string; protocol: ProtocolVersion; head: string | null; capabilities: string[]; invalidRefs: InvalidRefName[] };
  target: { url: string; capabilities: string[]; invalidRefs: InvalidRefName[] } | null;
  refPrefixes: string[];
  refs: { name: string; hash: string; peeled: string | null }[];
}

export async function probe(options: ProbeOptions): Promise<ProbeResult> {
  const scope = selectionScope(options);
  const context = new RunContext(options);
  const sourceEndpoint = context.endpoint(options.source);
  const targetEndpoint = options.target ? context.endpoint(options.target) : null;
  const refPrefixes = selectionPrefixes(scope);
  try {
    const result = await context.retrying(async (): Promise<Omit<ProbeResult, keyof Observed>> => {
      const sourceTransport = context.transport('source', sourceEndpoint, options.source);
      context.observer.phase('discover');
      const session = await UploadPackSession.open(sourceTransport, {
        protocol: options.protocol ?? 'auto',
        refPrefixes: options.allRefs ? [] : refPrefixes,
        observer: context.observer,
        signal: context.signal,
      });
      await session.close();
      const { discovery } = session;

      let target: ProbeResult['target'] = null;
      if (targetEndpoint !== null && options.target) {
        const targetSession = await ReceivePackSession.open(context.transport('target', targetEndpoint, options.target), { signal: context.signal, readOnly: true });
        await targetSession.close();
        target = {
          url: targetSession.transport.displayUrl,
          capabilities: targetSession.discovery.capabilities.toList(),
          invalidRefs: targetSession.discovery.invalidRefs,
        };
      }

      return {
        source: {
          url: sourceTransport.displayUrl,
          protocol: discovery.protocol,
          head: discovery.head,
          capabilities: discovery.capabilities.toList(),
          invalidRefs: discovery.invalidRefs,
        },
        target,
        refPrefixes,
        refs: selectRefs(discovery.refs, scope).map((ref) => ({ name: ref.name, hash: ref.hash, peeled: ref.peeled })),
      };
    });
    await context.succeeded();
    return { ...result, ...context.finish() };
  } finally {
    context.finish();
    await context.close();
  }
}
