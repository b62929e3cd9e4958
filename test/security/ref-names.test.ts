/**
 * Issue 20, item 5: ref names a server lists are held to git's check-ref-format rules
 * (docs/security.md, "Clean terminals and valid ref names"). A hostile source lists
 * `refs/heads/../../x`, names with a carriage return or an escape sequence, a HEAD naming an
 * invalid branch; a hostile target lists such names too. Each is skipped with a warning that names
 * it (escaped), reported in the JSON, and never planned: not created, not deleted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, makeTempDir, type TempDir } from '../helpers/git.js';
import { advertisementSteps, hostilePipe, startHostileHttp } from '../helpers/hostile-server.js';
import { runCli } from '../cli/run-cli.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const ESC = '\u001b';

interface Listed {
  source: { head: string | null; invalidRefs: { name: string; problem: string }[] };
  target: { invalidRefs: { name: string; problem: string }[] } | null;
}

function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('warning:'));
}

describe('security: invalid ref names from a server are skipped, never pushed (issue 20, item 5)', () => {
  let temp: TempDir;
  let source: FixtureRepo;
  let empty: FixtureRepo;
  let otherEmpty: FixtureRepo;

  before(async () => {
    temp = makeTempDir('gitsync-refnames-');
    source = await createRepo({ parentDir: temp.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
    empty = await createRepo({ parentDir: temp.path, name: 'empty' });
    otherEmpty = await createRepo({ parentDir: temp.path, name: 'other-empty' });
  });
  after(async () => temp.remove());

  it('a source listing refs/heads/../../x and names with CR or ESC: plan skips them with warnings and plans the valid refs only', async () => {
    const peer = await hostilePipe({
      uploadPack: advertisementSteps(
        [
          ['refs/heads/main', A],
          ['refs/heads/../../x', B],
          ['refs/heads/x\rCREATE refs/heads/y', B],
          [`refs/heads/evil${ESC}]0;owned\u0007`, B],
          ['refs/heads/ok', B],
        ],
        'ofs-delta symref=HEAD:refs/heads/main',
      ),
    });
    try {
      const json = await runCli(['plan', '--protocol', 'v1', '--json', peer.url, empty.path], peer.env);
      assert.equal(json.code, 0, json.stderr);
      const result = JSON.parse(json.stdout) as Listed & { plans: { targetRef: string; action: string }[] };
      assert.deepEqual(result.plans.map((plan) => [plan.action, plan.targetRef]), [['create', 'refs/heads/main'], ['create', 'refs/heads/ok']]);
      assert.deepEqual(result.source.invalidRefs, [
        { name: 'refs/heads/../../x', problem: "contains '..'" },
        { name: 'refs/heads/x\rCREATE refs/heads/y', problem: 'contains the control character 0x0d' },
        { name: `refs/heads/evil${ESC}]0;owned\u0007`, problem: 'contains the control character 0x1b' },
      ]);
      assert.equal(result.source.head, 'refs/heads/main');

      const text = await runCli(['plan', '--protocol', 'v1', peer.url, empty.path], peer.env);
      assert.equal(text.code, 0, text.stderr);
      assert.deepEqual(text.stdout.split('\n').filter((line) => /^[A-Z]+ refs\//.test(line)), [
        'CREATE refs/heads/main - aaaaaaaa -> new',
        'CREATE refs/heads/ok - bbbbbbbb -> new',
      ]);
      assert.deepEqual(warnings(text.stderr), [
        "warning: the source lists the ref name 'refs/heads/../../x', which git refuses: it contains '..'; skipped",
        "warning: the source lists the ref name 'refs/heads/x^MCREATE refs/heads/y', which git refuses: it contains the control character 0x0d; skipped",
        "warning: the source lists the ref name 'refs/heads/evil^[]0;owned^G', which git refuses: it contains the control character 0x1b; skipped",
      ]);
      // Planning never touched the target.
      assert.equal((await forEachRef(empty.path)).size, 0);
    } finally {
      await peer.close();
    }
  });

  it('with several targets, the source is screened once: its warnings once, each target planned without the names', async () => {
    const peer = await hostilePipe({ uploadPack: advertisementSteps([['refs/heads/main', A], ['refs/heads/a..b', B]], 'ofs-delta symref=HEAD:refs/heads/main') });
    try {
      const run = await runCli(['plan', '--protocol', 'v1', '--json', peer.url, empty.path, otherEmpty.path], peer.env);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { source: Listed['source']; targets: (Listed & { plans: { targetRef: string }[] })[] };
      assert.deepEqual(result.source.invalidRefs, [{ name: 'refs/heads/a..b', problem: "contains '..'" }]);
      for (const target of result.targets) assert.deepEqual(target.plans.map((plan) => plan.targetRef), ['refs/heads/main']);
      assert.deepEqual(warnings(run.stderr), ["warning: the source lists the ref name 'refs/heads/a..b', which git refuses: it contains '..'; skipped"]);
    } finally {
      await peer.close();
    }
  });

  it('v2 ls-refs over HTTP: invalid names and a HEAD naming an invalid branch are skipped', async () => {
    const server = await startHostileHttp({
      advertisement: [
        { pkt: '# service=git-upload-pack\n' },
        { flush: true },
        { pkt: 'version 2\n' },
        { pkt: 'agent=hostile\n' },
        { pkt: 'ls-refs=unborn\n' },
        { pkt: 'fetch=shallow\n' },
        { flush: true },
      ],
      uploadPack: [
        { read: 'all' },
        { pkt: `${A} HEAD symref-target:refs/heads/.hidden\n` },
        { pkt: `${A} refs/heads/main\n` },
        { pkt: `${B} refs/heads/a..b\n` },
        { pkt: `${B} refs/tags/v1.lock\n` },
        { pkt: `${B} refs/tags/v1\n` },
        { flush: true },
      ],
    });
    try {
      const run = await runCli(['probe', '--protocol', 'v2', '--tags', '--json', server.url]);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as Listed & { refs: { name: string }[] };
      assert.deepEqual(result.refs.map((ref) => ref.name).sort(), ['refs/heads/main', 'refs/tags/v1']);
      assert.equal(result.source.head, null);
      assert.deepEqual(result.source.invalidRefs, [
        { name: 'refs/heads/a..b', problem: "contains '..'" },
        { name: 'refs/tags/v1.lock', problem: "has a component ending with '.lock' (v1.lock)" },
        { name: 'refs/heads/.hidden', problem: "has a component beginning with '.' (.hidden) (the branch HEAD names)" },
      ]);
      assert.equal(warnings(run.stderr).length, 3, run.stderr);
    } finally {
      await server.close();
    }
  });

  it('a target listing an invalid name: replicate --prune neither deletes nor leases it', async () => {
    const target = await startHostileHttp({
      advertisement: [
        { pkt: '# service=git-receive-pack\n' },
        { flush: true },
        ...advertisementSteps(
          [
            ['refs/heads/gone', B],
            [`refs/heads/bad${ESC}[31m`, B],
          ],
          'report-status delete-refs side-band-64k ofs-delta atomic',
        ),
      ],
    });
    try {
      const run = await runCli(['plan', '--mode', 'replicate', '--prune', '--json', source.path, target.url]);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as Listed & { plans: { targetRef: string; action: string }[] };
      assert.deepEqual(result.plans.map((plan) => [plan.action, plan.targetRef]), [['delete', 'refs/heads/gone'], ['create', 'refs/heads/main']]);
      assert.deepEqual(result.target?.invalidRefs, [{ name: `refs/heads/bad${ESC}[31m`, problem: 'contains the control character 0x1b' }]);
      assert.deepEqual(warnings(run.stderr), ["warning: the target lists the ref name 'refs/heads/bad^[[31m', which git refuses: it contains the control character 0x1b; skipped"]);
    } finally {
      await target.close();
    }
  });
});
