/** A source repository with every kind of ref the scenarios need, served over loopback HTTP. */
import { createRepo, type FixtureRepo } from './fixtures.js';
import { git } from './git.js';

export interface SampleRepo {
  repo: FixtureRepo;
  main: string;
  dev: string;
}

/** main (with a merge), dev, an annotated and a lightweight tag, notes, refs/pull, refs/custom. */
export async function sampleRepo(parentDir: string, name = 'source', config: Record<string, string | boolean> = {}): Promise<SampleRepo> {
  const repo = await createRepo({ parentDir, name, config });
  await repo.commit('main', { files: { 'README.md': 'hello\n', 'src/a.txt': 'a\n' }, message: 'initial' });
  await repo.commit('main', { files: { 'src/b.txt': 'b\n' } });
  await repo.commit('feature', { parents: ['main'], files: { 'src/c.txt': 'c\n' } });
  await repo.commit('main', { files: { 'src/d.txt': 'd\n' } });
  await repo.merge('main', 'feature', { message: 'merge feature' });
  const dev = await repo.commit('dev', { parents: ['main'], files: { 'dev.txt': 'dev\n' } });
  await repo.annotatedTag('v1.0', 'main', { message: 'release 1.0' });
  await repo.lightweightTag('light', 'dev');
  await repo.note('main', 'a note');
  await repo.setRef('refs/pull/1/head', 'feature');
  await repo.setRef('refs/custom/x', 'dev');
  const main = await repo.revParse('main');
  return { repo, main, dev };
}

/** Object counts by type of everything reachable from `revs`, as git itself counts them. */
export async function reachableObjectTypes(repoDir: string, revs: readonly string[]): Promise<Record<string, number>> {
  const list = await git(['rev-list', '--objects', ...revs], { cwd: repoDir });
  const ids = list
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[0])
    .join('\n');
  const types = await git(['cat-file', '--batch-check=%(objecttype)'], { cwd: repoDir, input: `${ids}\n` });
  const counts: Record<string, number> = { commit: 0, tree: 0, blob: 0, tag: 0, total: 0 };
  for (const type of types.split('\n').filter(Boolean)) {
    counts[type] = (counts[type] ?? 0) + 1;
    counts.total = (counts.total ?? 0) + 1;
  }
  return counts;
}
