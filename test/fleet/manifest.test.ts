/**
 * The fleet manifest (docs/fleet.md, "Manifest reference"): what a valid one turns into, and
 * that every bad one is refused with file:line:column and the field, secrets never echoed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ManifestError } from '../../src/errors.js';
import { MANIFEST_SCHEMA } from '../../src/fleet/manifest-schema.js';
import { deriveMirrorId, loadManifest, parseManifest, parseSchedule } from '../../src/fleet/manifest.js';
import { makeTempDir } from '../helpers/git.js';
import { repoRoot } from '../helpers/streams.js';

const FULL = `# a complete manifest
concurrency: 4
per-host-concurrency: 2
defaults:
  schedule: 10m
  timeout: 5m
  tags: true
  prune: true
  max-deletes: 20
  source-token-env: SOURCE_TOKEN
state:
  path: state/fleet.db
  retain-runs: 50
  retain-days: 7
serve:
  listen: ":9090"
  hooks:
    github-secret-env: HOOK_SECRET
mirrors:
  - source: https://github.com/Org/Repo.git
    target: ./backup/repo.git
  - id: vendor
    source: /srv/git/vendor.git
    targets:
      - https://gitlab.example.com/mirror/vendor.git
      - url: https://backup.example.com/vendor.git
        token-env: BACKUP_TOKEN
    target-token-env: GITLAB_TOKEN
    mode: replicate
    schedule: "*/5 * * * *"
    force: with-lease
    branches: [main, release]
    map: ["main:upstream/main"]
    target-max-pack-bytes: 1GiB
    max-ref-listing-bytes: 64MiB
    allowed-protocols: [HTTPS, ssh]
    tags: false
`;

function refusal(text: string): ManifestError {
  try {
    parseManifest(text, 'mirrors.yaml');
  } catch (error) {
    assert.ok(error instanceof ManifestError, `expected a ManifestError, got ${String(error)}`);
    assert.equal(error.code, 'MANIFEST_INVALID');
    return error;
  }
  assert.fail('the manifest was accepted');
}

describe('fleet manifest', () => {
  it('reads defaults, mirrors, state and serve, every option typed for the library', () => {
    const manifest = parseManifest(FULL, '/etc/git-sync/mirrors.yaml');
    assert.deepEqual(manifest.concurrency, { global: 4, perHost: 2 });
    assert.deepEqual(manifest.state, { path: '/etc/git-sync/state/fleet.db', retainRuns: 50, retainDays: 7 });
    assert.deepEqual(manifest.serve, { listen: '127.0.0.1:9090', hooks: { githubSecretEnv: 'HOOK_SECRET' } });
    const [first, second] = manifest.mirrors;
    assert.deepEqual(first, {
      id: 'github.com-org-repo',
      line: 20,
      cwd: '/etc/git-sync',
      source: 'https://github.com/Org/Repo.git',
      targets: ['./backup/repo.git'],
      mode: 'sync',
      schedule: { kind: 'interval', millis: 600_000 },
      timeoutMillis: 300_000,
      credentials: {
        source: { tokenEnv: 'SOURCE_TOKEN', bearerTokenEnv: null, username: null },
        targets: [{ tokenEnv: null, bearerTokenEnv: null, username: null }],
        credentialHelper: true,
      },
      options: { tags: true, prune: true, maxDeletes: 20 },
    });
    assert.equal(second!.id, 'vendor');
    assert.equal(second!.mode, 'replicate');
    assert.deepEqual(second!.schedule, { kind: 'cron', expression: '*/5 * * * *' });
    assert.deepEqual(second!.targets, ['https://gitlab.example.com/mirror/vendor.git', 'https://backup.example.com/vendor.git']);
    assert.deepEqual(second!.credentials.targets, [
      { tokenEnv: 'GITLAB_TOKEN', bearerTokenEnv: null, username: null },
      { tokenEnv: 'BACKUP_TOKEN', bearerTokenEnv: null, username: null },
    ]);
    assert.deepEqual(second!.options, {
      tags: false,
      prune: true,
      maxDeletes: 20,
      forceWithLease: true,
      forceBlind: false,
      branches: ['main', 'release'],
      maps: ['main:upstream/main'],
      targetMaxPackBytes: 1024 ** 3,
      maxRefListingBytes: 64 * 1024 ** 2,
      allowedProtocols: ['https', 'ssh'],
    });
  });

  it('fills what is not given: schedule 15m, timeout 30m, state next to the manifest, loopback listen', () => {
    const manifest = parseManifest('mirrors:\n  - source: a.git\n    target: b.git\n', '/srv/fleet.yml');
    assert.deepEqual(manifest.mirrors[0]!.schedule, { kind: 'interval', millis: 900_000 });
    assert.equal(manifest.mirrors[0]!.timeoutMillis, 1_800_000);
    assert.deepEqual(manifest.state, { path: '/srv/fleet.state.db', retainRuns: 1000, retainDays: 90 });
    assert.equal(manifest.serve.listen, '127.0.0.1:8787');
    assert.deepEqual(manifest.concurrency, { global: null, perHost: null });
  });

  const refused: [string, string, RegExp][] = [
    ['a misspelt field, with the near name', 'mirrors:\n  - source: a\n    target: b\n    schedul: 5m\n', /^mirrors\.yaml:4:5: mirrors\[0\]\.schedul: unknown field 'schedul'; did you mean 'schedule'\?$/],
    ['a bad interval', 'mirrors:\n  - source: a\n    target: b\n    schedule: 5y\n', /^mirrors\.yaml:4:15: mirrors\[0\]\.schedule: schedule '5y' is not a duration/],
    ['a bad cron expression', 'mirrors:\n  - source: a\n    target: b\n    schedule: "61 * * * *"\n', /^mirrors\.yaml:4:15: mirrors\[0\]\.schedule: '61 \* \* \* \*' is not a cron expression/],
    ['a wrong type', 'defaults:\n  tags: "yes"\nmirrors:\n  - source: a\n    target: b\n', /^mirrors\.yaml:2:9: defaults\.tags: expected boolean$/],
    ['a bad choice', 'mirrors:\n  - source: a\n    target: b\n    force: always\n', /^mirrors\.yaml:4:12: mirrors\[0\]\.force: expected one of "none", "with-lease", "blind"$/],
    ['no target', 'mirrors:\n  - source: a\n', /^mirrors\.yaml:2:5: mirrors\[0\]: missing field 'target' \(or 'targets', a list\)$/],
    ['both target and targets', 'mirrors:\n  - source: a\n    target: b\n    targets: [c]\n', /give 'target' or 'targets', not both/],
    ['no source', 'mirrors:\n  - target: b\n', /^mirrors\.yaml:2:5: mirrors\[0\]: missing field 'source'$/],
    ['a bad size', 'mirrors:\n  - source: a\n    target: b\n    target-max-pack-bytes: lots\n', /^mirrors\.yaml:4:28: mirrors\[0\]\.target-max-pack-bytes: target-max-pack-bytes 'lots' is not a size/],
    ['an env name that is not one', 'mirrors:\n  - source: a\n    target: b\n    target-token-env: my-token\n', /^mirrors\.yaml:4:23: mirrors\[0\]\.target-token-env: expected an environment variable name/],
    ['a bad id', 'mirrors:\n  - id: My Repo\n    source: a\n    target: b\n', /^mirrors\.yaml:2:9: mirrors\[0\]\.id: expected an id of lower-case letters/],
    ['a duplicate id', 'mirrors:\n  - {id: x, source: a, target: b}\n  - {id: x, source: c, target: d}\n', /^mirrors\.yaml:3:10: mirrors\[1\]\.id: id 'x' is already used on line 2/],
    ['derived ids that collide', 'mirrors:\n  - {source: /x/a.git, target: b}\n  - {source: /y/x/a.git, target: c}\n', /^mirrors\.yaml:3:5: mirrors\[1\]: its id 'x-a' is derived from the source, as that of line 2: give each an explicit 'id'$/],
    ['broken YAML', 'mirrors:\n  - source: a\n   target: b\n', /^mirrors\.yaml:3:\d+: not valid YAML: /],
    ['a duplicate key', 'mirrors:\n  - source: a\n    source: b\n    target: c\n', /^mirrors\.yaml:3:\d+: not valid YAML: Map keys must be unique/],
    ['no mirrors', 'defaults:\n  tags: true\n', /^mirrors\.yaml:1:1: missing field 'mirrors'$/],
    ['an empty file', '', /^mirrors\.yaml:1:1: expected a mapping with a `mirrors:` list/],
    ['a bad listen address', 'serve:\n  listen: "localhost"\nmirrors:\n  - {source: a, target: b}\n', /^mirrors\.yaml:2:11: serve\.listen: 'localhost' is not an address/],
    ['an unknown version', 'version: 2\nmirrors:\n  - {source: a, target: b}\n', /^mirrors\.yaml:1:10: version: expected 1$/],
    ['several problems, the first named and the rest counted', 'mirrors:\n  - source: a\n    target: b\n    tags: 1\n    prune: 2\n', /^mirrors\.yaml:4:11: mirrors\[0\]\.tags: expected boolean \(and 1 more problem\(s\)\)$/],
  ];
  for (const [what, text, expected] of refused) {
    it(`refuses ${what}, naming the line and the field`, () => {
      const error = refusal(text);
      assert.match(error.message, expected);
      assert.doesNotMatch(error.message, /\n/);
    });
  }

  const secrets: [string, string, string, RegExp][] = [
    ['a token field', 'mirrors:\n  - source: a\n    target: b\n    token: s3cr3t-value\n', 's3cr3t-value', /^mirrors\.yaml:4:5: mirrors\[0\]\.token: 'token' would hold a secret; a manifest never holds secrets/],
    ['a target-token field in defaults', 'defaults:\n  target-token: s3cr3t-value\nmirrors:\n  - {source: a, target: b}\n', 's3cr3t-value', /^mirrors\.yaml:2:3: defaults\.target-token: 'target-token' would hold a secret/],
    ['a password field', 'mirrors:\n  - source: a\n    target: b\n    password: s3cr3t-value\n', 's3cr3t-value', /mirrors\[0\]\.password: 'password' would hold a secret/],
    ['a webhook secret', 'serve:\n  hooks:\n    github-secret: s3cr3t-value\nmirrors:\n  - {source: a, target: b}\n', 's3cr3t-value', /^mirrors\.yaml:3:5: serve\.hooks\.github-secret: /],
    ['a password in a URL', 'mirrors:\n  - source: https://user:s3cr3t-value@git.example.com/a.git\n    target: b\n', 's3cr3t-value', /^mirrors\.yaml:2:13: mirrors\[0\]\.source: the URL holds a password; /],
    ['a token as a URL user', 'mirrors:\n  - source: a\n    targets:\n      - https://ghp_s3cr3tvalue123@github.com/o/r.git\n', 'ghp_s3cr3tvalue123', /^mirrors\.yaml:4:9: mirrors\[0\]\.targets\[0\]: the URL holds a token as its user name/],
    ['a token in a query', 'mirrors:\n  - source: https://git.example.com/a.git?private_token=s3cr3t-value\n    target: b\n', 's3cr3t-value', /the URL holds a 'private_token' query parameter/],
  ];
  for (const [what, text, secret, expected] of secrets) {
    it(`refuses a manifest holding a secret (${what}), without echoing it`, () => {
      const error = refusal(text);
      assert.match(error.message, expected);
      assert.ok(!error.message.includes(secret), error.message);
    });
  }

  it('accepts names of variables and a plain user in URLs', () => {
    const manifest = parseManifest(
      'mirrors:\n  - source: ssh://git@github.com/o/r.git\n    target: https://mirror@git.example.com/r.git\n    target-token-env: MIRROR_TOKEN\n',
      'mirrors.yaml',
    );
    assert.equal(manifest.mirrors[0]!.credentials.targets[0]!.tokenEnv, 'MIRROR_TOKEN');
  });

  it('derives stable ids from sources', () => {
    assert.equal(deriveMirrorId('https://github.com/Org/Repo.git'), 'github.com-org-repo');
    assert.equal(deriveMirrorId('http://127.0.0.1:8080/a/b.git'), '127.0.0.1-8080-a-b');
    assert.equal(deriveMirrorId('git@github.com:org/repo.git'), 'github.com-org-repo');
    assert.equal(deriveMirrorId('/srv/git/team/project.git'), 'team-project');
    assert.equal(deriveMirrorId('file:///srv/git/x.git'), 'git-x');
  });

  it('parses intervals and cron expressions', () => {
    assert.deepEqual(parseSchedule('90'), { kind: 'interval', millis: 90_000 });
    assert.deepEqual(parseSchedule('1h'), { kind: 'interval', millis: 3_600_000 });
    assert.deepEqual(parseSchedule('0 */2 * * *'), { kind: 'cron', expression: '0 */2 * * *' });
  });

  it('loads a file, and names one it cannot read', async () => {
    const dir = makeTempDir();
    const file = path.join(dir.path, 'mirrors.yaml');
    await writeFile(file, 'mirrors:\n  - {source: a, target: b}\n');
    const manifest = await loadManifest(file);
    assert.equal(manifest.path, file);
    assert.equal(manifest.state.path, path.join(dir.path, 'mirrors.state.db'));
    await assert.rejects(loadManifest(path.join(dir.path, 'nope.yaml')), (error: ManifestError) => {
      assert.equal(error.code, 'MANIFEST_INVALID');
      assert.match(error.message, /nope\.yaml: cannot read the manifest \(no such file\)$/);
      return true;
    });
    await dir.remove();
  });

  it('accepts the complete example of docs/fleet.md', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'fleet.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const manifest = parseManifest(example, '/etc/git-sync/mirrors.yaml');
    assert.deepEqual(manifest.mirrors.map((m) => m.id), ['github.com-org-app', 'vendor-lib', 'monorepo', 'upstream-kernel']);
    assert.deepEqual(manifest.mirrors[1]!.credentials.targets.map((t) => t.tokenEnv), ['GITLAB_TOKEN', 'EU_TOKEN', 'GITLAB_TOKEN']);
    assert.equal(manifest.mirrors[2]!.options.targetMaxPackBytes, 1024 ** 3);
    assert.equal(manifest.state.path, '/var/lib/git-sync/mirrors.state.db');
  });

  it('ships its schema as docs/mirrors.schema.json', () => {
    const shipped = JSON.parse(readFileSync(path.join(repoRoot, 'docs', 'mirrors.schema.json'), 'utf8')) as unknown;
    assert.deepEqual(shipped, JSON.parse(JSON.stringify(MANIFEST_SCHEMA)));
  });
});
