import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PktLineError, ProtocolError, RemoteError } from '../../src/errors.js';
import { readAdvertisement } from '../../src/protocol/advertisement.js';
import { skipServiceHeader } from '../../src/transport/http.js';
import { parseV1Capabilities } from '../../src/protocol/capabilities.js';
import { FLUSH_PKT, PktLineReader, pktLine } from '../../src/wire/pktline.js';
import { receivePackFeatures } from '../../src/protocol/receive-pack.js';
import { chunked, transcript, transcriptHashes } from '../helpers/streams.js';

const h = transcriptHashes();

function readerOf(bytes: Buffer, size = 1 << 16): PktLineReader {
  return new PktLineReader(chunked(bytes, size));
}

describe('capabilities', () => {
  it('parses v1 names, values and repeated symrefs', () => {
    const caps = parseV1Capabilities('multi_ack side-band-64k symref=HEAD:refs/heads/main symref=refs/remotes/o/HEAD:refs/remotes/o/x agent=git/2.39.5');
    assert.ok(caps.has('side-band-64k'));
    assert.equal(caps.get('agent'), 'git/2.39.5');
    assert.deepEqual(caps.getAll('symref'), ['HEAD:refs/heads/main', 'refs/remotes/o/HEAD:refs/remotes/o/x']);
    assert.equal(caps.symrefs().get('HEAD'), 'refs/heads/main');
    assert.equal(caps.objectFormat(), 'sha1');
  });
});

describe('v1 ref advertisement (captured from git upload-pack)', () => {
  it('reads it after the HTTP transport strips its service header, and attaches peeled lines to their tag', async () => {
    for (const size of [1, 7, 4096]) {
      const reader = readerOf(transcript('v1-advertisement.bin'), size);
      await skipServiceHeader(reader, 'git-upload-pack');
      const adv = await readAdvertisement(reader);
      assert.equal(adv.version, 'v1');
      if (adv.version !== 'v1') return;
      assert.equal(adv.head, 'refs/heads/main');
      assert.deepEqual(
        adv.refs.map((r) => [r.name, r.hash, r.peeled]),
        [
          ['HEAD', h.main, null],
          ['refs/heads/dev', h.dev, null],
          ['refs/heads/main', h.main, null],
          ['refs/tags/light', h.light, null],
          ['refs/tags/v1', h.v1, h.main],
        ],
      );
      assert.ok(adv.capabilities.has('filter'));
      assert.ok(adv.capabilities.has('side-band-64k'));
    }
  });

  it('reads an empty repository (flush only)', async () => {
    const adv = await readAdvertisement(readerOf(transcript('v1-advertisement-empty.bin')));
    assert.equal(adv.version, 'v1');
    assert.deepEqual(adv.version === 'v1' && adv.refs, []);
  });

  it('reads the capabilities^{} placeholder of an empty repository', async () => {
    const bytes = Buffer.concat([pktLine(`${'0'.repeat(40)} capabilities^{}\0report-status delete-refs atomic\n`), FLUSH_PKT]);
    const adv = await readAdvertisement(readerOf(bytes));
    assert.equal(adv.version, 'v1');
    if (adv.version !== 'v1') return;
    assert.deepEqual(adv.refs, []);
    assert.ok(adv.capabilities.has('atomic'));
  });

  it('reads the receive-pack advertisement and its push capabilities', async () => {
    const adv = await readAdvertisement(readerOf(transcript('receive-pack-advertisement.bin'), 5));
    assert.equal(adv.version, 'v1');
    const features = receivePackFeatures(adv.capabilities);
    assert.equal(features.reportStatus, true);
    assert.equal(features.reportStatusV2, true);
    assert.equal(features.deleteRefs, true);
    assert.equal(features.atomic, true);
    assert.equal(features.ofsDelta, true);
    assert.equal(features.sideBand64k, true);
    assert.equal(features.pushOptions, false);
    assert.equal(features.objectFormat, 'sha1');
    assert.match(features.agent ?? '', /^git\//);
  });

  it('rejects a wrong service header, a malformed ref line, an orphan peel line, and an ERR', async () => {
    const header = Buffer.concat([pktLine('# service=git-receive-pack\n'), FLUSH_PKT]);
    await assert.rejects(skipServiceHeader(readerOf(header), 'git-upload-pack'), ProtocolError);
    await assert.rejects(readAdvertisement(readerOf(Buffer.from('<html>oops</html>'))), PktLineError);
    await assert.rejects(readAdvertisement(readerOf(Buffer.concat([pktLine('zzzz refs/heads/x\n'), FLUSH_PKT]))), ProtocolError);
    const orphan = Buffer.concat([pktLine(`${h.main} refs/heads/a\0\n`), pktLine(`${h.main} refs/tags/b^{}\n`), FLUSH_PKT]);
    await assert.rejects(readAdvertisement(readerOf(orphan)), /does not follow/);
    await assert.rejects(readAdvertisement(readerOf(pktLine('ERR access denied\n'))), RemoteError);
  });

  it('detects a truncated advertisement', async () => {
    const full = transcript('v1-advertisement.bin');
    const reader = readerOf(full.subarray(0, 100));
    await skipServiceHeader(reader, 'git-upload-pack');
    await assert.rejects(readAdvertisement(reader), PktLineError);
  });

  it('refuses a list cut at a pkt-line boundary: the stream ended before its flush (regression: fault matrix)', async () => {
    // A local or ssh upload-pack whose output ended cleanly after its first ref line: read as a
    // whole list, the source seemed to have no branches, and a sync succeeded doing nothing.
    const full = Buffer.concat([pktLine(`${h.main} HEAD\0multi_ack symref=HEAD:refs/heads/main\n`), pktLine(`${h.main} refs/heads/main\n`), FLUSH_PKT]);
    const cut = full.subarray(0, full.length - FLUSH_PKT.length);
    for (const bytes of [cut, cut.subarray(0, pktLine(`${h.main} HEAD\0multi_ack symref=HEAD:refs/heads/main\n`).length)]) {
      await assert.rejects(readAdvertisement(readerOf(bytes)), (error: unknown) => error instanceof PktLineError && error.transient);
    }
    assert.equal((await readAdvertisement(readerOf(full))).version, 'v1');
  });
});

describe('v2 capability advertisement (captured)', () => {
  it('reads version 2 and the capability lines', async () => {
    const adv = await readAdvertisement(readerOf(transcript('v2-advertisement.bin'), 3));
    assert.equal(adv.version, 'v2');
    assert.ok(adv.capabilities.has('ls-refs'));
    assert.ok(adv.capabilities.commandHas('ls-refs', 'unborn'));
    assert.ok(adv.capabilities.commandHas('fetch', 'filter'));
    assert.equal(adv.capabilities.get('object-format'), 'sha1');
  });
});
