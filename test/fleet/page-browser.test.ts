/**
 * The status page in a real browser (docs/fleet.md, "Status page"): `git-sync fleet serve` on
 * loopback with a fleet of three mirrors between local repositories (one healthy, one failing:
 * its source is gone, one blocked: its target holds history on a branch whose name is markup),
 * their first runs made by the fleet runner, the page read by headless Chromium. The rows and
 * badges are checked in the DOM, a mirror's link is followed, "sync now" is pressed with the
 * token and the run it starts appears in place (checked against the target with git), markup in
 * a ref name is shown as text and runs nothing, and with scripts off the table still renders
 * and a meta refresh is there.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { loadManifest } from '../../src/fleet/manifest.js';
import { runFleet } from '../../src/fleet/runner.js';
import { FleetState } from '../../src/fleet/state.js';
import { startCli, type RunningCli } from '../cli/run-cli.js';
import { launchChromium, missingChromium } from '../helpers/browser.js';
import { cloneRepo, createRepo, openRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { freePort } from '../helpers/net.js';

const HOSTILE_BRANCH = '<script>window.pwned=1</script>';
const TOKEN = 'page-token-for-tests-7f3a';

/** Polls `check` until it is true; rejects with `what` after `millis`. */
async function waitFor(what: string, check: () => Promise<boolean>, millis = 30_000): Promise<void> {
  const deadline = Date.now() + millis;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The page's script errors and refused resources (a CSP that blocked the page's own script would show here). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}

describe('status page in a browser', { skip: missingChromium() }, () => {
  let dir: TempDir;
  let healthySource: FixtureRepo;
  let healthyTarget: string;
  let serve: RunningCli;
  let url: string;
  let browser: Browser;

  before(async () => {
    dir = makeTempDir('gitsync-page-browser-');
    healthySource = await createRepo({ parentDir: dir.path, name: 'healthy-src' });
    await healthySource.linearHistory(3);
    healthyTarget = path.join(dir.path, 'healthy-dst.git');

    const blockedSource = await createRepo({ parentDir: dir.path, name: 'blocked-src' });
    await blockedSource.commit('main');
    await blockedSource.commit(HOSTILE_BRANCH);
    const blockedTarget = await cloneRepo(blockedSource, { parentDir: dir.path, name: 'blocked-dst' });
    // The target's branch moves on: the source's tip would take that commit away, so the branch is blocked.
    await blockedTarget.commit(HOSTILE_BRANCH);

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const manifestPath = path.join(dir.path, 'mirrors.yaml');
    writeFileSync(
      manifestPath,
      [
        'serve:',
        `  listen: 127.0.0.1:${port}`,
        '  page-token-env: GITSYNC_PAGE_TOKEN',
        '  page-refresh: 1s',
        'state:',
        '  path: fleet.db',
        'defaults:',
        '  schedule: 1h',
        'mirrors:',
        '  - id: healthy',
        `    source: ${healthySource.path}`,
        `    target: ${healthyTarget}`,
        '  - id: failing',
        `    source: ${path.join(dir.path, 'gone.git')}`,
        `    target: ${path.join(dir.path, 'failing-dst.git')}`,
        '  - id: blocked',
        `    source: ${blockedSource.path}`,
        `    target: ${blockedTarget.path}`,
        '',
      ].join('\n'),
    );
    // The first runs, by the fleet runner into the state serve then reads.
    const manifest = await loadManifest(manifestPath);
    const state = FleetState.open(manifest.state.path);
    try {
      const first = await runFleet(manifest, { state });
      assert.deepEqual(Object.fromEntries(first.mirrors.map((m) => [m.id, m.outcome])), { healthy: 'success', failing: 'failed', blocked: 'blocked' });
      // As an earlier service would have planned them: no scheduled run comes while the page is looked at.
      for (const id of ['healthy', 'failing', 'blocked']) state.setNextRun(id, new Date(Date.now() + 50 * 60_000));
    } finally {
      state.close();
    }

    serve = startCli(['fleet', 'serve', manifestPath], { GITSYNC_PAGE_TOKEN: TOKEN });
    await waitFor('fleet serve to be ready', async () => {
      try {
        return (await fetch(`${url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (serve !== undefined) {
      serve.kill('SIGTERM');
      const result = await serve.done;
      assert.equal(result.code, 0, `fleet serve stopped with ${result.code}: ${result.stderr}`);
      assert.ok(!`${result.stdout}${result.stderr}`.includes(TOKEN), 'the page token is in the service\'s output');
    }
    await dir?.remove();
  });

  it('lists failing, then blocked, then healthy mirrors with their badges; markup in a ref name is text', async () => {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${url}/`);
    const rows = await page.$$eval('table.mirrors tbody tr', (trs) =>
      trs.map((tr) => ({ id: tr.getAttribute('data-mirror'), badge: tr.querySelector('.badge')?.textContent, text: tr.textContent ?? '' })),
    );
    assert.deepEqual(rows.map((row) => [row.id, row.badge]), [['failing', 'failing'], ['blocked', 'blocked'], ['healthy', 'healthy']]);
    assert.match(rows[0]!.text, /1 run\(s\) in a row/);
    assert.match(rows[2]!.text, /in (49|50) min/, 'the next run the state holds');
    assert.ok(rows[1]!.text.includes(`refs/heads/${HOSTILE_BRANCH}`), rows[1]!.text);
    const summary = await page.textContent('.summary');
    assert.match(summary ?? '', /^3 mirror\(s\) · 1 healthy · 1 failing · 1 blocked · 0 running now · oldest successful sync: .* \(healthy\); 2 never synced$/);
    // The page's own script is the only one; the hostile name ran nothing and made no element.
    assert.equal(await page.evaluate('document.scripts.length'), 1);
    assert.equal(await page.evaluate('window.pwned'), undefined);
    // Times are localized by the script: the ISO instant stays in datetime and the tooltip.
    const time = await page.$eval('.as-of time', (element) => ({ text: element.textContent, title: element.getAttribute('title'), datetime: element.getAttribute('datetime') }));
    assert.doesNotMatch(time.text ?? '', /UTC$/);
    assert.equal(time.title, time.datetime);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('follows a mirror\'s link; "sync now" with the token starts a run that appears in place', async () => {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${url}/`);
    await page.click('a.mirror-link:text-is("healthy")');
    await page.waitForURL(`${url}/mirrors/healthy`);
    assert.equal(await page.textContent('h1 .badge'), 'healthy');
    assert.equal(await page.locator('svg.chart rect.bar').count(), 2, 'one bar per finished run in each panel');
    assert.doesNotMatch((await page.textContent('svg.chart text[data-datetime]')) ?? '', /UTC$/, 'the chart\'s times are localized too');
    assert.deepEqual(await page.$$eval('table.runs tbody tr td[data-label="Trigger"]', (cells) => cells.map((cell) => cell.textContent)), ['once']);

    // A wrong token: refused, nothing runs.
    await page.fill('input[name="token"]', 'not-the-token');
    await page.click('button:text-is("Sync now")');
    assert.match((await page.textContent('main')) ?? '', /The page token is missing or wrong: no run was started/);
    assert.deepEqual(errors.splice(0), ['Failed to load resource: the server responded with a status of 403 (Forbidden)']);
    await page.goBack();

    const newTip = await healthySource.commit('main');
    await page.fill('input[name="token"]', TOKEN);
    await page.click('button:text-is("Sync now")');
    await page.waitForURL(/\/mirrors\/healthy\?triggered=(started|queued)$/);
    assert.match((await page.textContent('.notice')) ?? '', /^(Sync started|A run is in progress)/);
    // From here on the page is not reloaded: the run must arrive by the in-place refresh.
    await page.evaluate('window.marker = 1');
    const manualRun = page.locator('table.runs tbody tr').filter({ has: page.locator('td[data-label="Trigger"]', { hasText: /^manual$/ }) });
    await manualRun.locator('.badge.success').waitFor({ timeout: 60_000 });
    assert.equal(await page.evaluate('window.marker'), 1, 'the page was refreshed in place, not reloaded');
    assert.ok(!(await page.content()).includes(TOKEN), 'the page shows the token');
    const target = await openRepo(healthyTarget);
    assert.equal(await target.revParse('refs/heads/main'), newTip);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('shows the blocked mirror\'s error, ref name and all, as text on its page', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}/mirrors/blocked`);
    const message = await page.textContent('table.runs td[data-label="Error"] .message');
    assert.ok(message?.includes(`refs/heads/${HOSTILE_BRANCH}`), message ?? '');
    assert.equal(await page.evaluate('document.scripts.length'), 1);
    assert.equal(await page.evaluate('window.pwned'), undefined);
    await page.close();
  });

  it('works with scripts off: the table renders, sorts through its links, a meta refresh is there (not under the token field)', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    // The meta refresh reloads the page every second (page-refresh: 1s above); a reload in the
    // middle of a step below, on a slow machine, destroyed the page being read. Reloads are
    // counted and answered 204 No Content, on which a browser stays on the page it has.
    let reloads = 0;
    await context.route('**/*', async (route) => {
      const request = route.request();
      if (request.isNavigationRequest() && request.url() === page.url()) {
        reloads += 1;
        await route.fulfill({ status: 204 });
        return;
      }
      await route.continue();
    });
    await page.goto(`${url}/`);
    assert.equal(await page.getAttribute('noscript > meta[http-equiv="refresh"]', 'content'), '1');
    const ids = (): Promise<(string | null)[]> => page.$$eval('table.mirrors tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-mirror')));
    assert.deepEqual(await ids(), ['failing', 'blocked', 'healthy']);
    await page.click('th a:has-text("Mirror")');
    await page.waitForURL(/\?sort=id&order=asc$/);
    assert.deepEqual(await ids(), ['blocked', 'failing', 'healthy']);
    // Without the script, times stay as the server wrote them.
    assert.match((await page.textContent('.as-of time')) ?? '', /UTC$/);
    await waitFor('the meta refresh to reload the page', async () => reloads > 0);
    // A mirror's page with the token field does not reload itself under a token being typed.
    await page.click('a.mirror-link:text-is("healthy")');
    await page.waitForURL(`${url}/mirrors/healthy`);
    assert.equal(await page.locator('meta[http-equiv="refresh"]').count(), 0);
    assert.equal(await page.locator('form.sync noscript a:text-is("reload")').count(), 1);
    assert.equal(await page.locator('table.runs tbody tr').count() > 0, true);
    await context.close();
  });

  it('keeps the JSON at the same addresses', async () => {
    const answer = await fetch(`${url}/mirrors/healthy`, { headers: { accept: 'application/json' } });
    const body = (await answer.json()) as { mirror: { id: string }; runs: { trigger: string }[] };
    assert.equal(body.mirror.id, 'healthy');
    assert.ok(body.runs.some((run) => run.trigger === 'manual'));
  });
});
