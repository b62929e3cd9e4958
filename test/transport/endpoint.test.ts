import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { endpointIdentity, parseEndpoint } from '../../src/transport/endpoint.js';

const CWD = '/srv/work';
const identity = (location: string): string => endpointIdentity(parseEndpoint(location, CWD));

describe('endpoint grammar', () => {
  it('parses scp-like locations with bracketed hosts and ports as git does', () => {
    assert.deepEqual(parseEndpoint('git@[host:2222]:org/repo.git'), { kind: 'ssh', host: 'host', user: 'git', port: 2222, path: 'org/repo.git', display: 'git@[host:2222]:org/repo.git' });
    assert.deepEqual(parseEndpoint('[git@host:2222]:org/repo.git'), { kind: 'ssh', host: 'host', user: 'git', port: 2222, path: 'org/repo.git', display: '[git@host:2222]:org/repo.git' });
    assert.deepEqual(parseEndpoint('[::1]:repo'), { kind: 'ssh', host: '::1', user: null, port: null, path: 'repo', display: '[::1]:repo' });
    assert.deepEqual(parseEndpoint('user@host:path/to/repo'), { kind: 'ssh', host: 'host', user: 'user', port: null, path: 'path/to/repo', display: 'user@host:path/to/repo' });
    assert.equal(parseEndpoint('./host:repo', CWD).kind, 'local', 'a slash before the colon makes it a path');
    assert.throws(() => parseEndpoint('[host:99999]:repo'), UsageError);
    assert.throws(() => parseEndpoint('-oProxyCommand=x:repo'), /begins with "-"/);
  });

  it('gives one identity to the same remote repository written differently', () => {
    const same: Array<[string, string]> = [
      ['https://github.com/o/r', 'HTTPS://GitHub.COM/o/r.git/'],
      ['https://github.com:443/o/r', 'https://github.com/o/r'],
      ['http://h:80/o/r', 'http://h/o/r//'],
      ['https://user:secret@github.com/o/r', 'https://github.com/o/r'],
      ['https://h/a/../o/./r', 'https://h/o/r'],
      ['https://h/o%20r', 'https://h/o r'],
      ['git@github.com:o/r.git', 'ssh://git@github.com/o/r'],
      ['ssh://git@host:22/o/r', 'git+ssh://host/o/r'],
      ['ssh+git://other@host/o/r', 'host:o/r'],
      ['host:~/r', 'ssh://host/~/r.git'],
      ['[::1]:repo', 'ssh://[::1]/repo'],
      ['user@[host:2222]:repo', 'ssh://host:2222/repo'],
      ['git://host:9418/r', 'git://host/r.git'],
      ['file:///srv/repo', '/srv/repo'],
      ['./repo', '/srv/work/repo'],
    ];
    for (const [a, b] of same) assert.equal(identity(a), identity(b), `${a} vs ${b}`);
  });

  it('tells different repositories apart', () => {
    const different: Array<[string, string]> = [
      ['https://github.com/o/r', 'https://github.com/o/r2'],
      ['https://h/o/R', 'https://h/o/r'],
      ['http://h/o/r', 'https://h/o/r'],
      ['http://127.0.0.1:8001/repo.git', 'http://127.0.0.1:8002/repo.git'],
      ['https://h/o/r', 'ssh://h/o/r'],
      ['ssh://host:2222/o/r', 'ssh://host/o/r'],
      ['git@[host:2222]:org/repo.git', 'git@host:org/repo.git'],
      ['/srv/a', '/srv/b'],
      ['/srv/repo', '/srv/repo.git'],
      ['host:repo', './host:repo'],
    ];
    for (const [a, b] of different) assert.notEqual(identity(a), identity(b), `${a} vs ${b}`);
  });

  it('never puts credentials in an identity', () => {
    assert.equal(identity('HTTPS://user:s3cret@Example.COM:443/o/r.git/'), 'https://example.com/o/r');
    assert.equal(identity('https://example.com:8443/o/r'), 'https://example.com:8443/o/r');
    assert.equal(identity('git@github.com:o/r.git'), 'ssh://github.com/o/r');
    assert.equal(identity('ssh://[::1]:2222/r'), 'ssh://[::1]:2222/r');
  });
});

describe('malformed percent-encoding', () => {
  // Regressions: decodeURIComponent's URIError escaped parseEndpoint instead of a usage error.
  it('is a usage error in an ssh or git path, an ssh user and an http user name or password, never leaking the password', () => {
    for (const location of ['ssh://host/%zz', 'git://host/repo%E0', 'ssh://%ff@host/repo', 'https://%ff@host/repo', 'https://user:s3cr%E0t@host/repo']) {
      assert.throws(() => parseEndpoint(location), (error: unknown) => {
        assert.ok(error instanceof UsageError, `${location}: ${String(error)}`);
        assert.match(error.message, /invalid percent-encoding in the (path|user name|password) of/);
        assert.doesNotMatch(error.message, /s3cr/);
        return true;
      });
    }
  });
});
