/**
 * What every transport must do with the same sample repository, over protocol v1 and v2: probe
 * lists exactly the refs, peeled tags and HEAD that `git ls-remote` sees on disk; fetch receives
 * a pack holding every object `git rev-list --objects --all` lists; the bytes are counted.
 * Call inside a `describe` whose `before` serves the repository. `relayEverything` pushes what
 * one transport fetches into another, streaming.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fetch, probe, type ProtocolVersion } from '../../src/index.js';
import { relayPush } from '../../src/execute/relay.js';
import { QUIET_OBSERVER } from '../../src/observe/observer.js';
import { ReceivePackSession } from '../../src/protocol/receive-pack-session.js';
import type { PushReport } from '../../src/protocol/report-status.js';
import { UploadPackSession } from '../../src/protocol/upload-pack-session.js';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { openTransport } from '../../src/transport/open.js';
import { forEachRef, fsck, lsRemote } from '../helpers/git.js';
import { reachableObjectTypes } from '../helpers/sample-repo.js';

export interface Served {
  /** The URL git-sync is given. */
  url: string;
  /** The repository's directory, inspected with git directly. */
  repoPath: string;
}

export function itProbesAndFetches(label: string, served: () => Served, protocols: readonly ProtocolVersion[] = ['v1', 'v2']): void {
  for (const protocol of protocols) {
    it(`${label}: probe over ${protocol} lists the refs git ls-remote lists, and counts the bytes`, async () => {
      const { url, repoPath } = served();
      const expected = await lsRemote(repoPath, { protocol: protocol === 'v1' ? 0 : 2 });
      const result = await probe({ source: { url }, protocol, allRefs: true, stats: true });
      assert.equal(result.source.protocol, protocol);
      assert.equal(result.source.head, expected.headTarget);
      assert.deepEqual(new Map(result.refs.map((ref) => [ref.name, ref.hash])), expected.refs);
      assert.deepEqual(new Map(result.refs.filter((ref) => ref.peeled !== null).map((ref) => [ref.name, ref.peeled])), expected.peeled);

      const phases = result.stats!.phases;
      assert.equal(phases['source info-refs']?.requests, 1);
      assert.ok(phases['source info-refs']!.responseBytes > 0);
      if (protocol === 'v2') {
        assert.equal(phases['source ls-refs']?.requests, 1);
        assert.ok(phases['source ls-refs']!.requestBytes > 0);
        // Every ref line is at least an oid, a space and a name.
        assert.ok(phases['source ls-refs']!.responseBytes > expected.refs.size * 42);
      } else {
        assert.ok(phases['source info-refs']!.responseBytes > expected.refs.size * 42);
      }
    });

    it(`${label}: fetch over ${protocol} receives every object, and counts the bytes`, async () => {
      const { url, repoPath } = served();
      const expected = await reachableObjectTypes(repoPath, ['--all']);
      const result = await fetch({ source: { url }, protocol, allRefs: true, stats: true });
      assert.equal(result.source.protocol, protocol);
      assert.deepEqual({ ...result.objects }, expected);
      const phase = result.stats!.phases['source fetch']!;
      assert.equal(phase.requests, 1);
      assert.ok(phase.requestBytes > 0);
      assert.ok(phase.responseBytes >= result.packBytes && result.packBytes > 0, `${phase.responseBytes} >= ${result.packBytes}`);
    });
  }
}

/**
 * The real relay (execute/relay.ts) through two transports: every ref of `sourceUrl` fetched in
 * one pack, streamed as it arrives into `targetUrl`'s receive-pack as creates. The target must
 * be empty. Resolves with the target's report.
 */
export async function relayEverything(sourceUrl: string, targetUrl: string): Promise<PushReport> {
  const source = await UploadPackSession.open(openTransport(parseEndpoint(sourceUrl), { side: 'source' }), { protocol: 'auto' });
  try {
    const target = await ReceivePackSession.open(openTransport(parseEndpoint(targetUrl), { side: 'target' }));
    try {
      assert.deepEqual(target.discovery.refs, [], 'the target is empty');
      const refs = source.discovery.refs.filter((ref) => ref.name.startsWith('refs/'));
      const commands = refs.map((ref) => ({ ref: ref.name, oldHash: null, newHash: ref.hash }));
      const context = { source, target, maxPackBytes: null, maxRefUpdates: commands.length, signal: undefined, observer: QUIET_OBSERVER };
      const { report, pack } = await relayPush(context, { commands, wants: [...new Set(refs.map((ref) => ref.hash))], haves: [], atomic: target.discovery.features.atomic });
      assert.ok(pack !== null && pack.objectCount > 0, 'a pack was relayed');
      return report;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

/** Relays `source` into the empty `target` and checks the target now has the same refs, intact. */
export async function assertRelays(sourceUrl: string, sourcePath: string, targetUrl: string, targetPath: string): Promise<void> {
  const report = await relayEverything(sourceUrl, targetUrl);
  assert.equal(report.unpackOk, true, report.unpackError ?? '');
  assert.ok(report.refs.every((ref) => ref.status === 'ok'), JSON.stringify(report.refs));
  assert.deepEqual(await forEachRef(targetPath), await forEachRef(sourcePath));
  await fsck(targetPath);
}
