import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { assertDifferentRepositories, repositoryIdentity, sameRepository } from '../../src/plan/same-repository.js';

const CWD = '/srv/work';

test('the same repository written differently', () => {
  const same: Array<[string, string]> = [
    ['https://github.com/o/r', 'HTTPS://GitHub.COM/o/r.git/'],
    ['https://github.com:443/o/r', 'https://github.com/o/r'],
    ['http://h:80/o/r', 'http://h/o/r//'],
    ['https://user:secret@github.com/o/r', 'https://github.com/o/r'],
    ['https://h/a/../o/./r', 'https://h/o/r'],
    ['https://h//o/r', 'https://h/o/r'],
    ['https://h/o%20r', 'https://h/o r'],
    ['git@github.com:o/r.git', 'ssh://git@github.com/o/r'],
    ['ssh://git@host:22/o/r', 'git+ssh://host/o/r'],
    ['ssh+git://other@host/o/r', 'host:o/r'],
    ['host:~/r', 'ssh://host/~/r.git'],
    ['[::1]:repo', 'ssh://[::1]/repo'],
    ['user@[host:2222]:repo', 'ssh://host:2222/repo'],
    ['git://host:9418/r', 'git://host/r.git'],
    ['/srv/repo', '/srv/repo.git'],
    ['/srv/repo', '/srv/repo/.git'],
    ['/srv/repo', '/srv/repo/'],
    ['./repo', '/srv/work/repo'],
    ['repo', '/srv/work/repo'],
    ['../x/repo', '/srv/x/repo/'],
    ['file:///srv/repo', '/srv/repo'],
    ['file://localhost/srv/repo', '/srv//repo'],
  ];
  for (const [a, b] of same) assert.equal(sameRepository(a, b, CWD), true, `${a} vs ${b}`);
});

test('different repositories', () => {
  const different: Array<[string, string]> = [
    ['https://github.com/o/r', 'https://github.com/o/r2'],
    ['https://h/o/R', 'https://h/o/r'],
    ['http://h/o/r', 'https://h/o/r'],
    ['http://127.0.0.1:8001/repo.git', 'http://127.0.0.1:8002/repo.git'],
    ['https://h/o/r', 'ssh://h/o/r'],
    ['ssh://host:2222/o/r', 'ssh://host/o/r'],
    ['ssh://host/o/r', 'ssh://other/o/r'],
    ['/srv/a', '/srv/b'],
    ['host:repo', './host:repo'],
    ['repo', '/srv/repo'],
    ['file://server/srv/repo', '/srv/repo'],
  ];
  for (const [a, b] of different) assert.equal(sameRepository(a, b, CWD), false, `${a} vs ${b}`);
});

test('identities are normalised and never carry credentials', () => {
  const cases: Array<[string, string]> = [
    ['HTTPS://user:s3cret@Example.COM:443/o/r.git/', 'https://example.com/o/r'],
    ['https://example.com:8443/o/r', 'https://example.com:8443/o/r'],
    ['git@github.com:o/r.git', 'ssh://github.com/o/r'],
    ['ssh://[::1]:2222/r', 'ssh://[::1]:2222/r'],
    ['git://host:09418/r', 'git://host/r'],
    ['./repo.git', 'file:///srv/work/repo'],
    ['file:///tmp/x%20y', 'file:///tmp/x y'],
    ['EXT::ssh -p 1 host %S', 'ext::ssh -p 1 host %S'],
  ];
  for (const [location, identity] of cases) assert.equal(repositoryIdentity(location, CWD), identity, location);
});

test('the same repository twice is a usage error that does not print secrets', () => {
  assert.throws(
    () => assertDifferentRepositories('https://user:s3cret@h/o/r', 'https://h/o/r.git', CWD),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message === 'source and target are the same repository (https://h/o/r); pass two different repositories',
  );
  assert.doesNotThrow(() => assertDifferentRepositories('https://h/o/r', 'https://h/o/r2', CWD));
});
