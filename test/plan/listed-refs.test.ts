import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { screenListedRefs } from '../../src/plan/listed-refs.js';
import type { Oid, Ref } from '../../src/types.js';

const A = 'a'.repeat(40) as Oid;

function ref(name: string, symrefTarget?: string): Ref {
  return symrefTarget === undefined ? { name, hash: A, peeled: null } : { name, hash: A, peeled: null, symrefTarget };
}

describe('screenListedRefs (plan/listed-refs.ts)', () => {
  it('keeps a listing with nothing wrong as it was given', () => {
    const refs = [ref('HEAD', 'refs/heads/main'), ref('refs/heads/main'), ref('refs/tags/v1.0'), ref('refs/heads/é\u009b')];
    const screened = screenListedRefs(refs, 'refs/heads/main');
    assert.equal(screened.refs, refs);
    assert.equal(screened.head, 'refs/heads/main');
    assert.deepEqual(screened.invalid, []);
  });

  it('skips every name git check-ref-format refuses, saying why, in the order listed', () => {
    const cases: Array<[string, string]> = [
      ['refs/heads/../../x', "contains '..'"],
      ['refs/heads/x\rCREATE', 'contains the control character 0x0d'],
      ['refs/heads/\u001b]0;t\u0007', 'contains the control character 0x1b'],
      ['refs/heads/a b', 'contains a space'],
      ['refs/tags/v1.lock', "has a component ending with '.lock' (v1.lock)"],
      ['refs/heads/', "ends with '/'"],
      ['FETCH_HEAD', "has no '/' (a full name looks like refs/heads/main)"],
      ['refs/heads/a@{1}', "contains '@{'"],
    ];
    const screened = screenListedRefs([ref('refs/heads/main'), ...cases.map(([name]) => ref(name)), ref('refs/heads/ok')], null);
    assert.deepEqual(screened.refs.map((r) => r.name), ['refs/heads/main', 'refs/heads/ok']);
    assert.deepEqual(screened.invalid, cases.map(([name, problem]) => ({ name, problem })));
  });

  it('accepts HEAD, the one name outside refs/ a server lists', () => {
    assert.deepEqual(screenListedRefs([ref('HEAD')], null).invalid, []);
  });

  it('drops a HEAD that names an invalid branch, from the head and from the HEAD ref', () => {
    const screened = screenListedRefs([ref('HEAD', 'refs/heads/../x'), ref('refs/heads/main')], 'refs/heads/../x');
    assert.equal(screened.head, null);
    assert.deepEqual(screened.invalid, [{ name: 'refs/heads/../x', problem: "contains '..' (the branch HEAD names)" }]);
    assert.deepEqual(screened.refs.map((r) => [r.name, r.symrefTarget ?? null]), [['HEAD', null], ['refs/heads/main', null]]);
  });
});
