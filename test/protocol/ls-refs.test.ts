import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError, RemoteError } from '../../src/errors.js';
import { readAdvertisement } from '../../src/protocol/advertisement.js';
import { parseV2Capabilities } from '../../src/protocol/capabilities.js';
import { lsRefsRequest, readLsRefsResponse } from '../../src/protocol/ls-refs.js';
import { FLUSH_PKT, PktLineReader, pktLine } from '../../src/wire/pktline.js';
import { chunked, transcript, transcriptHashes } from '../helpers/streams.js';

const h = transcriptHashes();

describe('ls-refs', () => {
  it('builds the request with peel, symrefs, unborn and ref-prefix, only offered capabilities', async () => {
    const adv = await readAdvertisement(new PktLineReader(chunked(transcript('v2-advertisement.bin'), 64)));
    const body = lsRefsRequest(adv.capabilities, { refPrefixes: ['refs/heads/', 'refs/tags/'], agent: 'git-sync/test' }).toString();
    assert.equal(
      body,
      '0014command=ls-refs\n' +
        '0018agent=git-sync/test\n' +
        '0017object-format=sha1\n' +
        '0001' +
        '0009peel\n000csymrefs\n000bunborn\n' +
        '001bref-prefix refs/heads/\n001aref-prefix refs/tags/\n' +
        '0000',
    );
    const plain = lsRefsRequest(parseV2Capabilities(['ls-refs', 'fetch'])).toString();
    assert.equal(plain, '0014command=ls-refs\n00010009peel\n000csymrefs\n0000');
  });

  it('parses a captured response: symref HEAD, peeled tags', async () => {
    const result = await readLsRefsResponse(new PktLineReader(chunked(transcript('v2-ls-refs.bin'), 5)));
    assert.equal(result.head, 'refs/heads/main');
    assert.equal(result.headUnborn, false);
    assert.deepEqual(
      result.refs.map((r) => [r.name, r.hash, r.peeled]),
      [
        ['HEAD', h.main, null],
        ['refs/heads/dev', h.dev, null],
        ['refs/heads/main', h.main, null],
        ['refs/tags/light', h.light, null],
        ['refs/tags/v1', h.v1, h.main],
      ],
    );
  });

  it('skips an unborn HEAD but remembers its branch', async () => {
    const result = await readLsRefsResponse(new PktLineReader(chunked(transcript('v2-ls-refs-empty.bin'), 64)));
    assert.deepEqual(result.refs, []);
    assert.equal(result.head, 'refs/heads/main');
    assert.equal(result.headUnborn, true);
  });

  it('rejects malformed lines, a missing flush, and ERR', async () => {
    const bad = Buffer.concat([pktLine('nothex refs/heads/x\n'), FLUSH_PKT]);
    await assert.rejects(readLsRefsResponse(new PktLineReader(chunked(bad, 64))), ProtocolError);
    await assert.rejects(readLsRefsResponse(new PktLineReader(chunked(pktLine(`${h.main} refs/heads/x\n`), 64))), /unexpected end/);
    await assert.rejects(readLsRefsResponse(new PktLineReader(chunked(pktLine('ERR no such repo\n'), 64))), RemoteError);
  });
});
