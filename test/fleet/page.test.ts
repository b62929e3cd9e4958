/**
 * The status page's rendering (src/fleet/page.ts, chart.ts, format.ts) on fleet status built
 * here: escaping of whatever a ref name or an error message holds, credentials never shown,
 * failing and blocked mirrors first, badges, sorting, the read-only page without a token, and
 * the CSP that lets exactly the page's own script and style run.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { renderRunChart } from '../../src/fleet/chart.js';
import { escapeHtml, formatAge, formatBytes, formatDuration, formatSpan } from '../../src/fleet/format.js';
import {
  DEFAULT_SORT,
  PAGE_CONTENT_SECURITY_POLICY,
  mirrorHealth,
  parseSort,
  renderFleetPage,
  renderMirrorPage,
  sortMirrors,
  type MirrorStatus,
  type PageMirror,
  type RunRow,
} from '../../src/fleet/page.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const minutesAgo = (minutes: number): Date => new Date(NOW.getTime() - minutes * 60_000);

function run(id: number, fields: Partial<RunRow> = {}): RunRow {
  return {
    id,
    mirrorId: 'alpha',
    trigger: 'schedule',
    startedAt: minutesAgo(10),
    finishedAt: minutesAgo(9),
    outcome: 'success',
    reason: null,
    relayMode: 'incremental',
    bytesFromSource: 2048,
    bytesToTarget: 2048,
    refsChanged: 1,
    errorCode: null,
    errorMessage: null,
    ...fields,
  };
}

function status(lastRun: RunRow | null, fields: Partial<MirrorStatus> = {}): MirrorStatus {
  const failing = lastRun?.outcome === 'failed' || lastRun?.outcome === 'blocked';
  return {
    id: lastRun?.mirrorId ?? 'alpha',
    lastRun,
    lastOutcome: lastRun?.outcome ?? null,
    lastReason: lastRun?.reason ?? null,
    lastSuccess: failing ? minutesAgo(600) : (lastRun?.finishedAt ?? null),
    consecutiveFailures: failing ? 3 : 0,
    failingSince: failing ? minutesAgo(180) : null,
    nextRun: new Date(NOW.getTime() + 5 * 60_000),
    runningSince: null,
    ...fields,
  };
}

function mirror(id: string, lastRun: RunRow | null, fields: Partial<PageMirror> = {}): PageMirror {
  const own = lastRun === null ? null : { ...lastRun, mirrorId: id };
  return { id, source: `https://github.com/org/${id}.git`, targets: [`/srv/mirrors/${id}.git`], mode: 'sync', status: status(own), ...fields };
}

const HOSTILE = '<script>window.pwned = 1</script>';

const fleet: PageMirror[] = [
  mirror('alpha', run(1)),
  mirror('bravo', run(2, { outcome: 'failed', errorCode: 'HTTP_AUTH', errorMessage: `the source answered 401 ${HOSTILE}`, reason: null })),
  mirror('charlie', run(3, { outcome: 'blocked', reason: `refs/heads/${HOSTILE} would lose 2 commit(s) on the target` })),
  mirror('delta', null, { status: null }),
  mirror('echo', run(4, { outcome: 'noop', refsChanged: 0 }), {
    source: 'https://ci-bot:s3cr3t-t0ken@git.example.com/org/echo.git?access_token=abcdef123',
    targets: ['https://oauth2:glpat-secretvalue@gitlab.example.com/org/echo.git', '/srv/b.git'],
  }),
];

/** The text of every <script> element of a page. */
function scripts(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => match[1]!);
}

describe('status page rendering', () => {
  it('escapes markup in an error message and in a ref name: the only script is the page\'s own', () => {
    const html = renderFleetPage(fleet, DEFAULT_SORT, { now: NOW, syncEnabled: false });
    assert.equal(scripts(html).length, 1);
    assert.doesNotMatch(html, /<script>window/);
    assert.match(html, /<span class="message clamp"><code>HTTP_AUTH<\/code> the source answered 401 &lt;script&gt;window\.pwned = 1&lt;\/script&gt;<\/span>/);
    assert.match(html, /refs\/heads\/&lt;script&gt;window\.pwned = 1&lt;\/script&gt; would lose/);

    const page = renderMirrorPage(fleet[1]!, [fleet[1]!.status!.lastRun!, run(0)], { now: NOW, syncEnabled: true });
    assert.equal(scripts(page).length, 1);
    assert.match(page, /<code>HTTP_AUTH<\/code> <span class="message">the source answered 401 &lt;script&gt;/);
  });

  it('escapes a mirror id, an attribute value and quotes', () => {
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;');
    const html = renderMirrorPage(mirror('a"b<c', run(1)), [run(1)], { now: NOW, syncEnabled: true });
    assert.doesNotMatch(html, /a"b<c/);
    assert.match(html, /action="a%22b%3Cc\/sync"/);
  });

  it('never shows credentials: user-info and secret query values of sources and targets are redacted', () => {
    const html = renderFleetPage(fleet, DEFAULT_SORT, { now: NOW, syncEnabled: false });
    const page = renderMirrorPage(fleet[4]!, [run(4, { errorMessage: 'push to https://u:hunter2pass@h.example/x.git failed', errorCode: 'NETWORK', outcome: 'failed' })], {
      now: NOW,
      syncEnabled: false,
    });
    for (const text of [html, page]) {
      for (const secret of ['s3cr3t-t0ken', 'ci-bot', 'abcdef123', 'glpat-secretvalue', 'oauth2', 'hunter2pass']) assert.ok(!text.includes(secret), `${secret} is shown`);
      assert.match(text, /https:\/\/\*\*\*@git\.example\.com\/org\/echo\.git\?access_token=\*\*\*/);
    }
    assert.match(page, /https:\/\/\*\*\*@h\.example\/x\.git failed/);
  });

  it('lists failing, then blocked, then the others, each with its badge', () => {
    const html = renderFleetPage(fleet, DEFAULT_SORT, { now: NOW, syncEnabled: false });
    const rows = [...html.matchAll(/<tr class="health-([a-z]+)" data-mirror="([^"]+)">/g)].map((match) => `${match[2]}:${match[1]}`);
    assert.deepEqual(rows, ['bravo:failing', 'charlie:blocked', 'delta:new', 'alpha:healthy', 'echo:healthy']);
    assert.match(html, /<span class="badge failing">failing<\/span>/);
    assert.match(html, /<span class="badge blocked">blocked<\/span>/);
    assert.match(html, /<span class="badge new">not run yet<\/span>/);
    assert.match(html, /<span class="badge since">for 3 h<\/span>/);
    assert.match(html, /3 run\(s\) in a row/);
  });

  it('says the whole fleet in one line: counts, running now, the oldest successful sync', () => {
    const running = fleet.map((m) => (m.id === 'alpha' ? { ...m, status: { ...m.status!, runningSince: minutesAgo(1) } } : m));
    const html = renderFleetPage(running, DEFAULT_SORT, { now: NOW, syncEnabled: false });
    const summary = /<p class="summary">([\s\S]*?)<\/p>/.exec(html)![1]!.replace(/<[^>]+>/g, '');
    assert.equal(summary, '5 mirror(s) · 2 healthy · 1 failing · 1 blocked · 1 running now · oldest successful sync: 2026-12-01 02:00 UTC 10 h ago (bravo); 1 never synced');
    assert.match(html, /<span class="badge running" title="since 2026-12-01T11:59:00\.000Z">running<\/span>/);
  });

  it('sorts by any column through links; mirrors without a value go last whichever the order', () => {
    assert.deepEqual(parseSort(new URLSearchParams('sort=next-run&order=desc')), { key: 'next-run', order: 'desc' });
    assert.deepEqual(parseSort(new URLSearchParams('sort=<x>&order=up')), DEFAULT_SORT);
    const ids = (key: 'id' | 'failing-since' | 'bytes', order: 'asc' | 'desc'): string[] => sortMirrors(fleet, { key, order }).map((m) => m.id);
    assert.deepEqual(ids('id', 'desc'), ['echo', 'delta', 'charlie', 'bravo', 'alpha']);
    assert.deepEqual(ids('failing-since', 'asc').slice(0, 2), ['bravo', 'charlie']);
    assert.equal(ids('bytes', 'desc').at(-1), 'delta');
    assert.equal(ids('bytes', 'asc').at(-1), 'delta');
    const html = renderFleetPage(fleet, { key: 'id', order: 'asc' }, { now: NOW, syncEnabled: false });
    assert.match(html, /<th scope="col" aria-sort="ascending"><a data-sort href="\?sort=id&amp;order=desc">Mirror ▲<\/a><\/th>/);
  });

  it('renders every time as ISO in <time datetime> for the script to localize', () => {
    const html = renderFleetPage(fleet, DEFAULT_SORT, { now: NOW, syncEnabled: false });
    assert.match(html, /<time datetime="2026-12-01T12:00:00\.000Z">2026-12-01 12:00 UTC<\/time>/);
    assert.match(html, /toLocaleString\(undefined/);
  });

  it('refreshes by script and, with scripts off, by a meta refresh inside <noscript>', () => {
    const html = renderFleetPage(fleet, DEFAULT_SORT, { now: NOW, syncEnabled: false, refreshSeconds: 30 });
    assert.match(html, /<noscript><meta http-equiv="refresh" content="30"><\/noscript>/);
    assert.match(html, /<html lang="en" data-refresh="30">/);
    assert.match(html, /<div id="live">/);
  });

  it('offers "sync now" with a token field only when a page token is configured', () => {
    const withToken = renderMirrorPage(fleet[0]!, [run(1)], { now: NOW, syncEnabled: true });
    assert.match(withToken, /<form class="sync" method="post" action="alpha\/sync">/);
    assert.match(withToken, /<input type="password" name="token"/);
    const readOnly = renderMirrorPage(fleet[0]!, [run(1)], { now: NOW, syncEnabled: false });
    assert.doesNotMatch(readOnly, /<form/);
    assert.match(readOnly, /Read-only: no page token is configured/);
    // With scripts off, only the read-only page reloads itself: the form's page must not wipe a token being typed.
    assert.match(readOnly, /<noscript><meta http-equiv="refresh"/);
    assert.doesNotMatch(withToken, /<meta http-equiv="refresh"/);
    assert.match(withToken, /<noscript><span class="muted">Scripts are off[^<]*<a href="">reload<\/a>/);
  });

  it('shows a mirror\'s recent runs newest first, with relay, bytes, refs and errors, and a chart of them', () => {
    const runs = [
      run(3, { outcome: 'failed', errorCode: 'TIMEOUT_IDLE', errorMessage: 'no byte for 60 s', relayMode: null, bytesFromSource: null, bytesToTarget: null }),
      run(2, { startedAt: minutesAgo(30), finishedAt: minutesAgo(28), bytesFromSource: 5 * 1024 * 1024, bytesToTarget: 5 * 1024 * 1024, refsChanged: 4 }),
      run(1, { startedAt: minutesAgo(60), finishedAt: minutesAgo(59.5), relayMode: 'bootstrap' }),
    ];
    const html = renderMirrorPage(fleet[0]!, runs, { now: NOW, syncEnabled: false });
    assert.deepEqual([...html.matchAll(/<tr data-run="(\d+)">/g)].map((m) => m[1]), ['3', '2', '1']);
    assert.match(html, /<td data-label="Bytes"><span title="[^"]*"><span class="nowrap">5\.0 MiB<\/span> → <span class="nowrap">5\.0 MiB<\/span><\/span><\/td><td data-label="Refs changed">4<\/td>/);
    assert.match(html, /<code>TIMEOUT_IDLE<\/code> <span class="message">no byte for 60 s<\/span>/);
    assert.match(html, /<svg class="chart"/);
    assert.match(html, /<td data-label="Started"><time datetime="2026-12-01T11:50:00\.000Z" data-seconds>2026-12-01 11:50:00 UTC<\/time>/);
    assert.match(html, /<text class="chart-axis" [^>]*data-datetime="2026-12-01T11:00:00\.000Z">2026-12-01 11:00 UTC<\/text>/);
    // Oldest on the left: run 1's bars come first.
    const titles = [...html.matchAll(/<title>run (\d+), [^<]*<\/title>/g)].map((m) => m[1]);
    assert.deepEqual(titles, ['1', '2', '3', '1', '2', '3']);
  });

  it('serves a CSP that lets exactly the page\'s own script and style run', () => {
    const html = renderFleetPage(fleet, DEFAULT_SORT, { now: NOW, syncEnabled: false });
    const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    assert.ok(PAGE_CONTENT_SECURITY_POLICY.includes(`script-src ${hash(scripts(html)[0]!)}`));
    assert.ok(PAGE_CONTENT_SECURITY_POLICY.includes(`style-src ${hash(style)}`));
    assert.match(PAGE_CONTENT_SECURITY_POLICY, /default-src 'none'/);
    assert.doesNotMatch(html, / style="/, 'no inline style attribute (the CSP would refuse it)');
  });

  it('names the badge from the last finished run', () => {
    assert.equal(mirrorHealth(null), 'new');
    assert.equal(mirrorHealth(status(run(1, { outcome: 'noop' }))), 'healthy');
    assert.equal(mirrorHealth(status(run(1, { outcome: 'aborted' }))), 'aborted');
    assert.equal(mirrorHealth(status(run(1, { outcome: 'blocked' }))), 'blocked');
    assert.equal(mirrorHealth(status(run(1, { outcome: 'failed' }))), 'failing');
  });
});

describe('status page chart', () => {
  it('draws one bar per run and panel, scaled to the largest, a missing figure as a stub', () => {
    const svg = renderRunChart([
      { id: 1, startedAt: minutesAgo(20), durationMillis: 1000, bytes: 100, outcome: 'success' },
      { id: 2, startedAt: minutesAgo(10), durationMillis: 4000, bytes: null, outcome: 'failed' },
    ]);
    const bars = [...svg.matchAll(/<rect class="bar ([a-z ]+)" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)">/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(bars, ['success:22.5', 'failed:90', 'success:90', 'missing:2']);
    assert.match(svg, /<text[^>]*>4\.0 s<\/text>/);
    assert.match(svg, /<text[^>]*>100 B<\/text>/);
    assert.equal(renderRunChart([]), '<p class="muted">No finished run to chart yet.</p>');
  });
});

describe('status page formats', () => {
  it('writes bytes, durations and ages short', () => {
    assert.deepEqual([0, 1023, 1536, 5 * 1024 ** 2, 3 * 1024 ** 3].map(formatBytes), ['0 B', '1023 B', '1.5 KiB', '5.0 MiB', '3.00 GiB']);
    assert.deepEqual([850, 3200, 245_000, 7_620_000].map(formatDuration), ['850 ms', '3.2 s', '4 min 05 s', '2 h 07 min']);
    assert.equal(formatAge(minutesAgo(0.2), NOW), 'just now');
    assert.equal(formatAge(minutesAgo(5), NOW), '5 min ago');
    assert.equal(formatAge(minutesAgo(180), NOW), '3 h ago');
    assert.equal(formatAge(minutesAgo(3 * 1440), NOW), '3 d ago');
    assert.equal(formatAge(new Date(NOW.getTime() + 240_000), NOW), 'in 4 min');
    assert.deepEqual([10_000, 90_000, 3 * 3_600_000, 3 * 86_400_000].map(formatSpan), ['< 1 min', '2 min', '3 h', '3 d']);
  });
});
