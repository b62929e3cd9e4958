import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProtocolError, TargetRefMovedError, UnsupportedError } from '../../src/errors.js';
import { emptyPack } from '../../src/pack/pack-writer.js';
import { readAdvertisement } from '../../src/protocol/advertisement.js';
import { parseV1Capabilities } from '../../src/protocol/capabilities.js';
import { PktLineReader } from '../../src/wire/pktline.js';
import {
  emptyPackRequired,
  receivePackFeatures,
  receivePackRequest,
  type PushCommand,
  type ReceivePackFeatures,
} from '../../src/protocol/receive-pack.js';
import { pushReportError, readReportStatus } from '../../src/protocol/report-status.js';
import type { Oid } from '../../src/types.js';
import { chunked, transcript } from '../helpers/streams.js';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;
const ZERO = '0'.repeat(40) as Oid;
const STOCK = 'report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta object-format=sha1 agent=git/2.39.5';

function features(caps = STOCK): ReceivePackFeatures {
  return receivePackFeatures(parseV1Capabilities(caps));
}

/** An independent pkt-line framing for expectations. */
function frame(text: string): string {
  return (Buffer.byteLength(text) + 4).toString(16).padStart(4, '0') + text;
}

/** The capability list sent on the first command line. */
function sentCaps(request: Buffer): string {
  const text = request.toString('latin1');
  return text.slice(text.indexOf('\0') + 1, text.indexOf('\n'));
}

describe('receivePackRequest', () => {
  it('matches the request captured for git receive-pack byte for byte', async () => {
    const adv = await readAdvertisement(new PktLineReader(chunked(transcript('receive-pack-advertisement.bin'), 64)));
    const request = receivePackRequest(
      receivePackFeatures(adv.capabilities),
      [
        { ref: 'refs/heads/main', oldHash: '4fd60207a0a0ea8c2253f9c443008a75a37a7be7' as Oid, newHash: 'e8efbce02ac9e96e5cddcba593beaf749391db1c' as Oid },
        { ref: 'refs/heads/feature', oldHash: null, newHash: '4bdb4272e7eba4b000a46b795170295553df7b86' as Oid },
      ],
      { atomic: false, reportStatusV2: false, agent: 'git-sync/capture' },
    );
    assert.deepEqual(request, transcript('push-ok-sideband.request.bin'));
  });

  it('prefers report-status-v2, asks for side-band-64k, quiet and atomic when wanted and offered, never delete-refs or ofs-delta', () => {
    const request = receivePackRequest(
      features(),
      [
        { ref: 'refs/heads/a', oldHash: A, newHash: B },
        { ref: 'refs/heads/gone', oldHash: A, newHash: null },
      ],
      { atomic: true, quiet: true, agent: 'git-sync/t' },
    );
    assert.equal(
      request.toString('latin1'),
      frame(`${A} ${B} refs/heads/a\0report-status-v2 side-band-64k quiet atomic agent=git-sync/t\n`) + frame(`${A} ${ZERO} refs/heads/gone\n`) + '0000',
    );
  });

  it('falls back to report-status, and asks only for what is offered', () => {
    const request = receivePackRequest(features('report-status'), [{ ref: 'refs/heads/a', oldHash: null, newHash: B }], { atomic: false, quiet: true, agent: 'x/1' });
    assert.equal(request.toString('latin1'), `${frame(`${ZERO} ${B} refs/heads/a\0report-status\n`)}0000`);
  });

  it('treats null and all-zero ids alike: creates and deletes carry the zero id', () => {
    const viaNull = receivePackRequest(features(), [{ ref: 'refs/heads/a', oldHash: null, newHash: B }], { atomic: false });
    const viaZero = receivePackRequest(features(), [{ ref: 'refs/heads/a', oldHash: ZERO, newHash: B }], { atomic: false });
    assert.deepEqual(viaNull, viaZero);
  });

  it('sends push options after the command flush, then a flush', () => {
    const request = receivePackRequest(features(`${STOCK} push-options`), [{ ref: 'refs/heads/a', oldHash: A, newHash: B }], {
      atomic: false,
      pushOptions: ['ci.skip', 'reason=mirror run'],
    });
    assert.match(sentCaps(request), / push-options( |$)/);
    assert.ok(request.toString('latin1').endsWith(`\n0000${frame('ci.skip')}${frame('reason=mirror run')}0000`));
  });

  it('uses the target object format: sha256 ids and object-format=sha256', () => {
    const C = 'c'.repeat(64) as Oid;
    const request = receivePackRequest(features('report-status object-format=sha256'), [{ ref: 'refs/heads/a', oldHash: null, newHash: C }], {
      atomic: false,
      objectFormat: 'sha256',
    });
    assert.equal(request.toString('latin1'), `${frame(`${'0'.repeat(64)} ${C} refs/heads/a\0report-status object-format=sha256\n`)}0000`);
    assert.throws(() => receivePackRequest(features('report-status object-format=sha256'), [{ ref: 'refs/heads/a', oldHash: null, newHash: B }], { atomic: false }), ProtocolError);
    assert.throws(() => receivePackRequest(features(), [{ ref: 'refs/heads/a', oldHash: null, newHash: B }], { atomic: false, objectFormat: 'sha256' }), UnsupportedError);
  });

  it('refuses what the target does not offer', () => {
    const update: PushCommand[] = [{ ref: 'refs/heads/a', oldHash: A, newHash: B }];
    assert.throws(() => receivePackRequest(features('report-status'), update, { atomic: true }), UnsupportedError);
    assert.throws(() => receivePackRequest(features('report-status'), [{ ref: 'refs/heads/a', oldHash: A, newHash: null }], { atomic: false }), /delete-refs.*refs\/heads\/a/);
    assert.throws(() => receivePackRequest(features('report-status'), update, { atomic: false, pushOptions: ['x'] }), UnsupportedError);
    assert.throws(() => receivePackRequest(features('delete-refs side-band-64k'), update, { atomic: false }), UnsupportedError);
  });

  it('refuses malformed commands and options', () => {
    const bad: [string, PushCommand[], string[]?][] = [
      ['no commands', []],
      ['empty ref', [{ ref: '', oldHash: A, newHash: B }]],
      ['space in ref', [{ ref: 'refs/heads/a b', oldHash: A, newHash: B }]],
      ['NUL in ref', [{ ref: 'refs/heads/a\0b', oldHash: A, newHash: B }]],
      ['newline in ref', [{ ref: 'refs/heads/a\nb', oldHash: A, newHash: B }]],
      ['short id', [{ ref: 'refs/heads/a', oldHash: 'abc' as Oid, newHash: B }]],
      ['uppercase id', [{ ref: 'refs/heads/a', oldHash: A.toUpperCase() as Oid, newHash: B }]],
      ['both zero', [{ ref: 'refs/heads/a', oldHash: null, newHash: ZERO }]],
      [
        'duplicate ref',
        [
          { ref: 'refs/heads/a', oldHash: A, newHash: B },
          { ref: 'refs/heads/a', oldHash: B, newHash: A },
        ],
      ],
      ['newline in push option', [{ ref: 'refs/heads/a', oldHash: A, newHash: B }], ['a\nb']],
      ['empty push option', [{ ref: 'refs/heads/a', oldHash: A, newHash: B }], ['']],
    ];
    for (const [label, commands, pushOptions] of bad) {
      assert.throws(() => receivePackRequest(features(`${STOCK} push-options`), commands, { atomic: false, pushOptions: pushOptions ?? [] }), ProtocolError, label);
    }
  });
});

describe('emptyPackRequired', () => {
  it('is false only when every command is a delete', () => {
    assert.equal(emptyPackRequired([{ ref: 'refs/heads/a', oldHash: A, newHash: null }, { ref: 'refs/heads/b', oldHash: B, newHash: ZERO }]), false);
    assert.equal(emptyPackRequired([{ ref: 'refs/heads/a', oldHash: A, newHash: null }, { ref: 'refs/heads/b', oldHash: null, newHash: B }]), true);
    assert.equal(emptyPackRequired([{ ref: 'refs/heads/a', oldHash: A, newHash: B }]), true);
  });
});

// ---------------------------------------------------------------------------------------------
// Against the real `git receive-pack --stateless-rpc`.

const gitEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GIT_'))),
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  LC_ALL: 'C',
  GIT_AUTHOR_NAME: 'Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.com',
  GIT_COMMITTER_NAME: 'Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.com',
  GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
};

function git(args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { env: { ...gitEnv, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`git ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString()}`));
    });
    // Commands that never read stdin may close it first; that is not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

async function text(args: string[]): Promise<string> {
  return (await git(args)).toString('utf8').trim();
}

let home = '';
let src = '';
let base: Oid;
let next: Oid;
let feature: Oid;

/** A bare target with main and old at `base`, plus hooks and config for the test. */
async function target(name: string, config: Record<string, string> = {}): Promise<string> {
  const repo = path.join(home, `${name}.git`);
  await git(['init', '-q', '--bare', '-b', 'main', repo]);
  for (const [key, value] of Object.entries(config)) await git(['-C', repo, 'config', key, value]);
  await git(['-C', src, 'push', '-q', repo, `${base}:refs/heads/main`, `${base}:refs/heads/old`]);
  return repo;
}

async function refsOf(repo: string): Promise<string[]> {
  return (await text(['-C', repo, 'for-each-ref', '--format=%(objectname) %(refname)'])).split('\n').filter((l) => l.length > 0);
}

async function advertisedFeatures(repo: string): Promise<ReceivePackFeatures> {
  const adv = await readAdvertisement(new PktLineReader(chunked(await git(['receive-pack', '--stateless-rpc', '--advertise-refs', repo]), 1 << 16)));
  return receivePackFeatures(adv.capabilities);
}

/** Sends request + pack to receive-pack and reads its report the way git-sync will. */
async function push(repo: string, body: Buffer, sideband: boolean, onProgress?: (m: string) => void) {
  const response = await git(['receive-pack', '--stateless-rpc', repo], body);
  return readReportStatus(new PktLineReader(chunked(response, 11)), { sideband, onProgress });
}

describe('receivePackRequest against git receive-pack', () => {
  before(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'gitsync-receive-pack-'));
    src = path.join(home, 'src');
    await git(['init', '-q', '-b', 'main', src]);
    await writeFile(path.join(src, 'a.txt'), 'base\n');
    await git(['-C', src, 'add', 'a.txt']);
    await git(['-C', src, 'commit', '-qm', 'base']);
    await git(['-C', src, 'checkout', '-qb', 'feature']);
    await writeFile(path.join(src, 'f.txt'), 'feature\n');
    await git(['-C', src, 'add', 'f.txt']);
    await git(['-C', src, 'commit', '-qm', 'feature']);
    await git(['-C', src, 'checkout', '-q', 'main']);
    await writeFile(path.join(src, 'a.txt'), 'next\n');
    await git(['-C', src, 'commit', '-qam', 'next']);
    base = (await text(['-C', src, 'rev-parse', 'main~1'])) as Oid;
    next = (await text(['-C', src, 'rev-parse', 'main'])) as Oid;
    feature = (await text(['-C', src, 'rev-parse', 'feature'])) as Oid;
  });

  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  async function packOf(...revs: string[]): Promise<Buffer> {
    return git(['-C', src, 'pack-objects', '-q', '--revs', '--stdout'], Buffer.from(`${revs.join('\n')}\n`));
  }

  it('an update and a create with a real pack: both refs land', async () => {
    const repo = await target('update-create');
    const f = await advertisedFeatures(repo);
    const commands: PushCommand[] = [
      { ref: 'refs/heads/main', oldHash: base, newHash: next },
      { ref: 'refs/heads/feature', oldHash: null, newHash: feature },
    ];
    assert.equal(emptyPackRequired(commands), true);
    const body = Buffer.concat([receivePackRequest(f, commands, { atomic: true, agent: 'git-sync/test' }), await packOf(next, feature, `^${base}`)]);
    const report = await push(repo, body, f.sideBand64k);
    assert.equal(pushReportError(report, commands), null);
    assert.deepEqual(await refsOf(repo), [`${feature} refs/heads/feature`, `${next} refs/heads/main`, `${base} refs/heads/old`]);
  });

  it('a ref-only update to objects the target already has sends the empty pack', async () => {
    const repo = await target('ref-only');
    const pack = emptyPack();
    assert.equal(pack.length, 32);
    assert.equal(pack.subarray(0, 12).toString('hex'), Buffer.concat([Buffer.from('PACK'), Buffer.from([0, 0, 0, 2, 0, 0, 0, 0])]).toString('hex'));
    const commands: PushCommand[] = [
      { ref: 'refs/heads/old', oldHash: base, newHash: null },
      { ref: 'refs/tags/base', oldHash: null, newHash: base },
      { ref: 'refs/heads/copy', oldHash: null, newHash: base },
    ];
    const f = await advertisedFeatures(repo);
    assert.equal(emptyPackRequired(commands), true);
    const report = await push(repo, Buffer.concat([receivePackRequest(f, commands, { atomic: true, quiet: true }), pack]), f.sideBand64k);
    assert.equal(pushReportError(report, commands), null);
    assert.deepEqual(await refsOf(repo), [`${base} refs/heads/copy`, `${base} refs/heads/main`, `${base} refs/tags/base`]);
  });

  it('a delete-only push sends no pack', async () => {
    const repo = await target('delete-only');
    const commands: PushCommand[] = [{ ref: 'refs/heads/old', oldHash: base, newHash: null }];
    assert.equal(emptyPackRequired(commands), false);
    const f = await advertisedFeatures(repo);
    const report = await push(repo, receivePackRequest(f, commands, { atomic: false }), f.sideBand64k);
    assert.equal(pushReportError(report, commands), null);
    assert.deepEqual(await refsOf(repo), [`${base} refs/heads/main`]);
  });

  it('push options reach the hooks; report-status without sideband works too', async () => {
    const repo = await target('push-options', { 'receive.advertisePushOptions': 'true' });
    await writeFile(path.join(repo, 'hooks', 'pre-receive'), '#!/bin/sh\necho "options: $GIT_PUSH_OPTION_COUNT [$GIT_PUSH_OPTION_0] [$GIT_PUSH_OPTION_1]" >&2\n', { mode: 0o755 });
    const f = await advertisedFeatures(repo);
    assert.equal(f.pushOptions, true);
    const commands: PushCommand[] = [{ ref: 'refs/heads/main', oldHash: base, newHash: next }];
    const request = receivePackRequest(f, commands, { atomic: false, pushOptions: ['ci.skip', 'reason=mirror run'] });
    const progress: string[] = [];
    const report = await push(repo, Buffer.concat([request, await packOf(next, `^${base}`)]), true, (m) => progress.push(m));
    assert.equal(pushReportError(report, commands), null);
    assert.ok(progress.includes('options: 2 [ci.skip] [reason=mirror run]'), progress.join('|'));

    const plain = await target('plain');
    const withoutSideband = { ...(await advertisedFeatures(plain)), sideBand64k: false, reportStatusV2: false };
    const plainReport = await push(plain, Buffer.concat([receivePackRequest(withoutSideband, commands, { atomic: false }), await packOf(next, `^${base}`)]), false);
    assert.equal(pushReportError(plainReport, commands), null);
    assert.deepEqual(await refsOf(plain), [`${next} refs/heads/main`, `${base} refs/heads/old`]);
  });

  it('a stale old value is refused and reported as the ref having moved; an atomic push changes nothing', async () => {
    const repo = await target('lease');
    const f = await advertisedFeatures(repo);
    const commands: PushCommand[] = [
      { ref: 'refs/heads/feature', oldHash: null, newHash: feature },
      { ref: 'refs/heads/main', oldHash: next, newHash: feature },
    ];
    const body = Buffer.concat([receivePackRequest(f, commands, { atomic: true }), await packOf(next, feature, `^${base}`)]);
    const error = pushReportError(await push(repo, body, f.sideBand64k), commands);
    assert.ok(error instanceof TargetRefMovedError);
    assert.equal(error.ref, 'refs/heads/main');
    assert.deepEqual(await refsOf(repo), [`${base} refs/heads/main`, `${base} refs/heads/old`]);
  });
});
