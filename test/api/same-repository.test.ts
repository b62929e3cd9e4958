import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertDifferentRepositories, repositoryIdentity } from '../../src/api/same-repository.js';
import { UsageError } from '../../src/errors.js';
import { makeTempDir } from '../helpers/git.js';

describe('the same repository twice', () => {
  const dir = makeTempDir('gitsync-same-');
  after(() => dir.remove());

  it('compares local repositories by real path: a.git and a are two, a symlink and a relative path are one', () => {
    mkdirSync(join(dir.path, 'a.git'));
    mkdirSync(join(dir.path, 'a'));
    symlinkSync(join(dir.path, 'a.git'), join(dir.path, 'link.git'));
    mkdirSync(join(dir.path, 'work', '.git'), { recursive: true });
    assert.doesNotThrow(() => assertDifferentRepositories('./a.git', './a', dir.path));
    assert.throws(() => assertDifferentRepositories('./a.git', join(dir.path, 'link.git'), dir.path), UsageError);
    assert.throws(() => assertDifferentRepositories('a.git', `file://${dir.path}/a.git/`, dir.path), UsageError);
    assert.throws(() => assertDifferentRepositories('./work', './work/.git', dir.path), UsageError, 'a work tree and its .git');
    // A target that does not exist yet: its parent's real path, then its own name.
    assert.equal(repositoryIdentity('./link-to-nothing/../new.git', dir.path), repositoryIdentity(join(dir.path, 'new.git'), '/'));
  });

  it('refuses the same remote repository, without printing credentials', () => {
    assert.throws(
      () => assertDifferentRepositories('https://user:s3cret@h/o/r', 'https://h/o/r.git', '/'),
      (error: unknown) => error instanceof UsageError && error.message === 'source and target are the same repository (https://h/o/r); pass two different repositories',
    );
    assert.throws(() => assertDifferentRepositories('git@[host:2222]:o/r.git', 'ssh://git@host:2222/o/r', '/'), UsageError);
    assert.doesNotThrow(() => assertDifferentRepositories('https://h/o/r', 'https://h/o/r2', '/'));
  });
});
