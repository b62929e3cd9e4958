/** `probe`: what a source (and optionally a target) says about itself, pushing nothing. */
import { readAdvertisement } from '../protocol/advertisement.js';
import { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { ProtocolVersion } from '../types.js';
import type { CommonOptions, EndpointOptions, Observed, RefSelection } from './options.js';
import { selectRefs, selectionPrefixes, validateSelection } from './ref-selection.js';
import { RunContext } from './run-context.js';

export interface ProbeOptions extends CommonOptions, RefSelection {
  source: EndpointOptions;
  target?: EndpointOptions | null;
}

export interface ProbeResult extends Observed {
  source: { url: string; protocol: ProtocolVersion; head: string | null; capabilities: string[] };
  target: { url: string; capabilities: string[] } | null;
  refPrefixes: string[];
  refs: { name: string; hash: string; peeled: string | null }[];
}

export async function probe(options: ProbeOptions): Promise<ProbeResult> {
  validateSelection(options);
  const context = new RunContext(options);
  const sourceEndpoint = context.endpoint(options.source);
  const targetEndpoint = options.target ? context.endpoint(options.target) : null;
  const refPrefixes = selectionPrefixes(options);
  try {
    const sourceTransport = context.transport('source', sourceEndpoint, options.source);
    const session = await UploadPackSession.open(sourceTransport, {
      protocol: options.protocol ?? 'auto',
      refPrefixes: options.allRefs ? [] : refPrefixes,
      stats: context.stats,
      signal: options.signal,
    });
    await session.close();
    const { discovery } = session;

    let target: ProbeResult['target'] = null;
    if (targetEndpoint !== null && options.target) {
      const targetTransport = context.transport('target', targetEndpoint, options.target);
      const connection = await targetTransport.connect('git-receive-pack', {
        protocol: 'v1',
        phase: 'target info-refs',
        signal: options.signal,
      });
      try {
        const advertisement = await readAdvertisement(connection.advertisement, connection.hasServiceHeader ? 'git-receive-pack' : undefined);
        target = { url: targetTransport.displayUrl, capabilities: advertisement.capabilities.toList() };
      } finally {
        await connection.close();
      }
    }

    return {
      source: {
        url: sourceTransport.displayUrl,
        protocol: discovery.protocol,
        head: discovery.head,
        capabilities: discovery.capabilities.toList(),
      },
      target,
      refPrefixes,
      refs: selectRefs(discovery.refs, options).map((ref) => ({ name: ref.name, hash: ref.hash, peeled: ref.peeled })),
      ...context.finish(),
    };
  } finally {
    context.finish();
  }
}
