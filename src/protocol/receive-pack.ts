/**
 * The target's receive-pack advertisement (gitprotocol-pack, "Pushing Data To a Server"):
 * always the v0/v1 format (receive-pack has no v2), refs plus the capabilities that decide how a
 * push can be sent.
 */
import type { Capabilities } from './capabilities.js';

export interface ReceivePackFeatures {
  reportStatus: boolean;
  reportStatusV2: boolean;
  deleteRefs: boolean;
  atomic: boolean;
  ofsDelta: boolean;
  sideBand64k: boolean;
  /** The server refuses thin packs; git-sync never sends them anyway. */
  noThin: boolean;
  pushOptions: boolean;
  quiet: boolean;
  objectFormat: 'sha1' | 'sha256';
  agent: string | null;
}

export function receivePackFeatures(capabilities: Capabilities): ReceivePackFeatures {
  return {
    reportStatus: capabilities.has('report-status'),
    reportStatusV2: capabilities.has('report-status-v2'),
    deleteRefs: capabilities.has('delete-refs'),
    atomic: capabilities.has('atomic'),
    ofsDelta: capabilities.has('ofs-delta'),
    sideBand64k: capabilities.has('side-band-64k'),
    noThin: capabilities.has('no-thin'),
    pushOptions: capabilities.has('push-options'),
    quiet: capabilities.has('quiet'),
    objectFormat: capabilities.objectFormat(),
    agent: capabilities.get('agent'),
  };
}
