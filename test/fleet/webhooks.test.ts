/**
 * Hook verification and matching (docs/fleet.md, "Webhooks"): GitHub's X-Hub-Signature-256,
 * GitLab's X-Gitlab-Token, the generic bearer token; which mirrors a push names.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { githubSignature, githubSignatureValid, judgeHook, mirrorsForUrls, repositoryKey, secretsEqual, type HookSecrets } from '../../src/fleet/webhooks.js';

const SECRETS: HookSecrets = { github: 'gh-secret', gitlab: 'gl-token', generic: 'generic-token' };
const MIRRORS = [
  { id: 'repo-https', source: 'https://github.com/Org/Repo.git' },
  { id: 'repo-ssh', source: 'git@github.com:org/repo' },
  { id: 'other', source: 'https://github.com/org/other.git' },
  { id: 'gitlab', source: 'ssh://git@gitlab.example.com:2222/group/sub/project.git' },
  { id: 'local', source: '/srv/git/repo.git' },
];

function githubPush(body: object, secret = 'gh-secret', event = 'push') {
  const raw = Buffer.from(JSON.stringify(body));
  return { provider: 'github' as const, headers: { 'x-hub-signature-256': githubSignature(raw, secret), 'x-github-event': event }, body: raw };
}

const GITHUB_PAYLOAD = {
  ref: 'refs/heads/main',
  repository: { clone_url: 'https://github.com/org/repo.git', ssh_url: 'git@github.com:org/repo.git', html_url: 'https://github.com/org/repo' },
};

describe('webhooks', () => {
  it('checks GitHub signatures: HMAC-SHA256 of the raw body under the secret', () => {
    const body = Buffer.from('{"zen":"Design for failure."}');
    // The signature as GitHub documents it, computed here independently of the module.
    const expected = `sha256=${createHmac('sha256', 'It\'s a Secret to Everybody').update(body).digest('hex')}`;
    assert.equal(githubSignature(body, 'It\'s a Secret to Everybody'), expected);
    assert.equal(githubSignatureValid(body, expected, 'It\'s a Secret to Everybody'), true);
    assert.equal(githubSignatureValid(body, expected.toUpperCase().replace('SHA256=', 'sha256='), 'It\'s a Secret to Everybody'), true, 'hex case does not matter');
    assert.equal(githubSignatureValid(Buffer.from(`${body} `), expected, 'It\'s a Secret to Everybody'), false, 'another body');
    assert.equal(githubSignatureValid(body, expected, 'another secret'), false);
    assert.equal(githubSignatureValid(body, expected.slice(0, -1), 'It\'s a Secret to Everybody'), false, 'a truncated signature');
    assert.equal(githubSignatureValid(body, expected.replace('sha256=', 'sha1='), 'It\'s a Secret to Everybody'), false);
    assert.equal(githubSignatureValid(body, undefined, 'It\'s a Secret to Everybody'), false);
    assert.equal(githubSignatureValid(body, githubSignature(body, ''), ''), false, 'an empty secret never verifies');
  });

  it('compares tokens whatever their lengths, never accepting an empty secret', () => {
    assert.equal(secretsEqual('abc', 'abc'), true);
    assert.equal(secretsEqual('abc', 'abcd'), false);
    assert.equal(secretsEqual('', ''), false);
  });

  it('keys repositories by host and path, whatever the scheme, user, port, case or .git', () => {
    for (const url of ['https://github.com/Org/Repo.git', 'http://user:pw@github.com/org/repo/', 'git@github.com:org/repo.git', 'ssh://git@github.com:22/org/repo', 'git://github.com/org/repo.git']) {
      assert.equal(repositoryKey(url), 'github.com/org/repo', url);
    }
    assert.equal(repositoryKey('/srv/git/repo.git'), null);
    assert.equal(repositoryKey('file:///srv/git/repo.git'), null);
    assert.equal(repositoryKey('https://github.com/'), null);
  });

  it('finds the mirrors whose source a push names, in manifest order', () => {
    assert.deepEqual(mirrorsForUrls(['https://github.com/org/repo.git'], MIRRORS), ['repo-https', 'repo-ssh']);
    assert.deepEqual(mirrorsForUrls(['https://gitlab.example.com/group/sub/project.git'], MIRRORS), ['gitlab']);
    assert.deepEqual(mirrorsForUrls(['https://github.com/org/nothing.git', 'not a url at all'], MIRRORS), []);
  });

  it('queues the mirrors of a signed GitHub push', () => {
    assert.deepEqual(judgeHook(githubPush(GITHUB_PAYLOAD), SECRETS, MIRRORS), { status: 202, reason: 'queued', mirrors: ['repo-https', 'repo-ssh'] });
    assert.equal(judgeHook(githubPush(GITHUB_PAYLOAD, 'gh-secret', 'delete'), SECRETS, MIRRORS).status, 202, 'a deleted branch moves refs too');
  });

  it('refuses unsigned and wrongly signed GitHub requests with 401, triggering nothing', () => {
    const unsigned = { ...githubPush(GITHUB_PAYLOAD), headers: { 'x-github-event': 'push' } };
    assert.deepEqual(judgeHook(unsigned, SECRETS, MIRRORS), { status: 401, reason: 'missing or wrong X-Hub-Signature-256', mirrors: [] });
    assert.equal(judgeHook(githubPush(GITHUB_PAYLOAD, 'wrong'), SECRETS, MIRRORS).status, 401);
    // Signed, then altered on the way.
    const altered = githubPush(GITHUB_PAYLOAD);
    const tampered = { ...altered, body: Buffer.from(altered.body.toString().replace('org/repo', 'org/other')) };
    assert.equal(judgeHook(tampered, SECRETS, MIRRORS).status, 401);
  });

  it('answers 200 to genuine events that name no mirror, 400 to a body that is not JSON, 404 when the endpoint is off', () => {
    assert.deepEqual(judgeHook(githubPush({ zen: 'hi', hook_id: 1 }, 'gh-secret', 'ping'), SECRETS, MIRRORS), { status: 200, reason: 'ignored a ping event', mirrors: [] });
    assert.equal(judgeHook(githubPush({ repository: { clone_url: 'https://github.com/org/unknown.git' } }), SECRETS, MIRRORS).status, 200);
    const raw = Buffer.from('payload=%7B%7D');
    assert.equal(judgeHook({ provider: 'github', headers: { 'x-hub-signature-256': githubSignature(raw, 'gh-secret'), 'x-github-event': 'push' }, body: raw }, SECRETS, MIRRORS).status, 400);
    assert.equal(judgeHook(githubPush(GITHUB_PAYLOAD), { ...SECRETS, github: null }, MIRRORS).status, 404);
  });

  it('checks the GitLab token and reads push and tag push events', () => {
    const body = Buffer.from(JSON.stringify({ object_kind: 'tag_push', project: { git_http_url: 'https://gitlab.example.com/group/sub/project.git', git_ssh_url: 'git@gitlab.example.com:group/sub/project.git' } }));
    assert.deepEqual(judgeHook({ provider: 'gitlab', headers: { 'x-gitlab-token': 'gl-token' }, body }, SECRETS, MIRRORS).mirrors, ['gitlab']);
    assert.equal(judgeHook({ provider: 'gitlab', headers: { 'x-gitlab-token': 'gl-tokem' }, body }, SECRETS, MIRRORS).status, 401);
    assert.equal(judgeHook({ provider: 'gitlab', headers: {}, body }, SECRETS, MIRRORS).status, 401);
    const issue = Buffer.from(JSON.stringify({ object_kind: 'issue', project: { git_http_url: 'https://gitlab.example.com/group/sub/project.git' } }));
    assert.equal(judgeHook({ provider: 'gitlab', headers: { 'x-gitlab-token': 'gl-token' }, body: issue }, SECRETS, MIRRORS).status, 200);
  });

  it('runs the generic hook\'s mirror for its bearer token only', () => {
    const request = { provider: 'generic' as const, headers: { authorization: 'Bearer generic-token' }, body: Buffer.alloc(0), mirrorId: 'local' };
    assert.deepEqual(judgeHook(request, SECRETS, MIRRORS), { status: 202, reason: 'queued', mirrors: ['local'] });
    assert.equal(judgeHook({ ...request, headers: { authorization: 'Bearer nope' } }, SECRETS, MIRRORS).status, 401);
    assert.equal(judgeHook({ ...request, headers: {} }, SECRETS, MIRRORS).status, 401);
    assert.equal(judgeHook({ ...request, mirrorId: 'missing' }, SECRETS, MIRRORS).status, 404, 'an unknown mirror, once authenticated');
    assert.equal(judgeHook({ ...request, headers: {}, mirrorId: 'missing' }, SECRETS, MIRRORS).status, 401, 'unauthenticated: nothing said about which mirrors exist');
  });
});
