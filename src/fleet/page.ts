/**
 * The status page of `fleet serve` (docs/fleet.md, "Status page"): pure functions from the
 * mirrors' status to complete HTML documents. No front-end build: plain HTML and CSS that work
 * with scripts off (server-side sorting through links, a <noscript> meta refresh), and a little
 * inline script that refreshes the live part in place, sorts without a reload and shows times
 * in the viewer's locale. Everything rendered goes through escapeHtml; every source and target
 * through redactUrl, and URLs inside messages too (they arrive redacted from the state; this is
 * the last line of defence before a browser).
 */
import { createHash } from 'node:crypto';
import { redactUrl } from '../observe/redact.js';
import { outcomeClass, renderRunChart, type ChartRun } from './chart.js';
import { escapeHtml, formatAge, formatBytes, formatDuration, formatSpan } from './format.js';
import type { MirrorStatus, RunRow } from './state.js';

export type { MirrorStatus, RunRow };

/** One mirror as the page shows it: the manifest's view of it and the state's. */
export interface PageMirror {
  id: string;
  source: string;
  targets: readonly string[];
  mode: string;
  /** Null while the state has never heard of the mirror (a mirror just added). */
  status: MirrorStatus | null;
}

/** What the table can be sorted by (`?sort=`); `status` puts failing and blocked mirrors first. */
export const SORT_KEYS = ['status', 'id', 'last-success', 'duration', 'bytes', 'next-run', 'failing-since'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export interface SortOrder {
  key: SortKey;
  order: 'asc' | 'desc';
}
export const DEFAULT_SORT: SortOrder = { key: 'status', order: 'asc' };

export interface PageOptions {
  /** The moment the page describes (ages are counted from it). */
  now: Date;
  /** Seconds between refreshes (the script's, and the meta refresh with scripts off). Default 15. */
  refreshSeconds?: number;
  /** True when a page token is configured: the mirror page offers "sync now"; otherwise it is read-only. */
  syncEnabled: boolean;
  /** A one-line note at the top of the page (the answer to "sync now"). */
  notice?: { kind: 'ok' | 'error'; text: string } | null;
}

/** A mirror's standing, as its badge says it. */
export type MirrorHealth = 'failing' | 'blocked' | 'aborted' | 'new' | 'healthy';

const HEALTH_RANK: Readonly<Record<MirrorHealth, number>> = { failing: 0, blocked: 1, aborted: 2, new: 3, healthy: 4 };

const HEALTH_WORDS: Readonly<Record<MirrorHealth, string>> = { failing: 'failing', blocked: 'blocked', aborted: 'aborted', new: 'not run yet', healthy: 'healthy' };

export const DEFAULT_REFRESH_SECONDS = 15;

/** The badge a mirror gets from its last finished run. */
export function mirrorHealth(status: MirrorStatus | null): MirrorHealth {
  switch (status?.lastOutcome ?? null) {
    case 'failed':
      return 'failing';
    case 'blocked':
      return 'blocked';
    case 'aborted':
      return 'aborted';
    case 'success':
    case 'noop':
      return 'healthy';
    default:
      return 'new';
  }
}

/** `?sort=id&order=desc` to a sort order; anything unknown falls back to the default. */
export function parseSort(params: URLSearchParams): SortOrder {
  const key = params.get('sort');
  const order = params.get('order');
  if (key === null || !(SORT_KEYS as readonly string[]).includes(key)) return DEFAULT_SORT;
  return { key: key as SortKey, order: order === 'desc' ? 'desc' : 'asc' };
}

/** The mirrors in table order: by the key (mirrors without a value last), then by health, then id. */
export function sortMirrors(mirrors: readonly PageMirror[], sort: SortOrder = DEFAULT_SORT): PageMirror[] {
  const direction = sort.order === 'desc' ? -1 : 1;
  const byHealth = (a: PageMirror, b: PageMirror): number => HEALTH_RANK[mirrorHealth(a.status)] - HEALTH_RANK[mirrorHealth(b.status)];
  const byId = (a: PageMirror, b: PageMirror): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return [...mirrors].sort((a, b) => {
    if (sort.key === 'status') return direction * byHealth(a, b) || byId(a, b);
    if (sort.key === 'id') return direction * byId(a, b);
    const va = sortValue(a, sort.key);
    const vb = sortValue(b, sort.key);
    if (va === null || vb === null) return (va === null ? 1 : 0) - (vb === null ? 1 : 0) || byHealth(a, b) || byId(a, b);
    return direction * (va - vb) || byHealth(a, b) || byId(a, b);
  });
}

function sortValue(mirror: PageMirror, key: Exclude<SortKey, 'status' | 'id'>): number | null {
  const status = mirror.status;
  switch (key) {
    case 'last-success':
      return status?.lastSuccess?.getTime() ?? null;
    case 'duration':
      return runDuration(status?.lastRun ?? null);
    case 'bytes':
      return runBytes(status?.lastRun ?? null);
    case 'next-run':
      return status?.nextRun?.getTime() ?? null;
    case 'failing-since':
      return status?.failingSince?.getTime() ?? null;
  }
}

/** The fleet page (`GET /`): the summary line and one row per mirror. */
export function renderFleetPage(mirrors: readonly PageMirror[], sort: SortOrder, options: PageOptions): string {
  const rows = sortMirrors(mirrors, sort).map((mirror) => mirrorRow(mirror, options.now));
  const table =
    mirrors.length === 0
      ? '<p class="muted">The manifest names no mirror.</p>'
      : `<div class="table-wrap"><table class="mirrors"><thead><tr>${COLUMNS.map((column) => headerCell(column, sort)).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
  const live = `<div id="live">${asOf(options.now)}${summaryLine(mirrors, options.now)}${table}</div>`;
  const footer = '<footer>The same data as JSON: <a href="mirrors">/mirrors</a> · metrics: <a href="metrics">/metrics</a></footer>';
  return documentHtml('git-sync fleet', '<h1>git-sync fleet</h1>', `${noticeHtml(options)}${live}${footer}`, options);
}

/** A mirror's page (`GET /mirrors/<id>`): its standing, a chart and a table of its recent runs (newest first), and "sync now". */
export function renderMirrorPage(mirror: PageMirror, runs: readonly RunRow[], options: PageOptions): string {
  const status = mirror.status;
  const health = mirrorHealth(status);
  const facts: [string, string][] = [
    ['Source', `<code>${escapeHtml(redactUrl(mirror.source))}</code>`],
    [mirror.targets.length === 1 ? 'Target' : 'Targets', mirror.targets.map((target) => `<code>${escapeHtml(redactUrl(target))}</code>`).join('<br>')],
    ['Mode', escapeHtml(mirror.mode)],
    ['Last outcome', `${badge(health)}${runningBadge(status)}${outcomeDetails(status?.lastRun ?? null)}`],
    ['Last success', timeAndAge(status?.lastSuccess ?? null, options.now, 'never')],
    ['Failing since', failingSince(status, options.now)],
    ['Next run', timeAndAge(status?.nextRun ?? null, options.now, 'not scheduled')],
  ];
  const finished = runs.filter((run) => run.finishedAt !== null);
  const chartRuns: ChartRun[] = [...finished].reverse().map((run) => ({
    id: run.id,
    startedAt: run.startedAt,
    durationMillis: runDuration(run),
    bytes: runBytes(run),
    outcome: run.outcome,
  }));
  const live = [
    '<div id="live">',
    asOf(options.now),
    `<dl class="facts">${facts.map(([term, value]) => `<div><dt>${term}</dt><dd>${value}</dd></div>`).join('')}</dl>`,
    '<h2>Recent runs</h2>',
    renderRunChart(chartRuns),
    runs.length === 0 ? '<p class="muted">No run yet.</p>' : runsTable(runs, options.now),
    '</div>',
  ].join('');
  const title = `${mirror.id}: git-sync fleet`;
  const header = `<p class="crumbs"><a href="../">← all mirrors</a></p><h1>${escapeHtml(mirror.id)} ${badge(health)}</h1>`;
  const footer = `<footer>The same data as JSON: <a href="${escapeHtml(encodeURIComponent(mirror.id))}?format=json">/mirrors/${escapeHtml(mirror.id)}?format=json</a></footer>`;
  // With scripts off, a page that reloads itself would wipe a token being typed: the page with
  // the form offers a reload link instead of the meta refresh (the script refreshes only #live).
  return documentHtml(title, header, `${noticeHtml(options)}${syncForm(mirror, options)}${live}${footer}`, options, !options.syncEnabled);
}

/** A short page for an answer that is not a mirror's (an unknown mirror, a refused token). */
export function renderMessagePage(title: string, message: string, options: PageOptions): string {
  return documentHtml(`${title}: git-sync fleet`, `<p class="crumbs"><a href="/">← all mirrors</a></p><h1>${escapeHtml(title)}</h1>`, `<p>${escapeHtml(message)}</p>`, {
    ...options,
    refreshSeconds: 0,
  });
}

interface Column {
  label: string;
  key: SortKey | null;
}

const COLUMNS: readonly Column[] = [
  { label: 'Mirror', key: 'id' },
  { label: 'Source → targets', key: null },
  { label: 'Last outcome', key: 'status' },
  { label: 'Last success', key: 'last-success' },
  { label: 'Last run', key: 'duration' },
  { label: 'Bytes', key: 'bytes' },
  { label: 'Next run', key: 'next-run' },
  { label: 'Failing since', key: 'failing-since' },
];

/** A sortable column's header is a link (works without scripts); the script follows it in place. */
function headerCell(column: Column, sort: SortOrder): string {
  if (column.key === null) return `<th scope="col">${escapeHtml(column.label)}</th>`;
  const active = column.key === sort.key;
  const nextOrder = active && sort.order === 'asc' ? 'desc' : 'asc';
  const aria = active ? ` aria-sort="${sort.order === 'asc' ? 'ascending' : 'descending'}"` : '';
  const arrow = active ? (sort.order === 'asc' ? ' ▲' : ' ▼') : '';
  return `<th scope="col"${aria}><a data-sort href="?sort=${column.key}&amp;order=${nextOrder}">${escapeHtml(column.label)}${arrow}</a></th>`;
}

function mirrorRow(mirror: PageMirror, now: Date): string {
  const status = mirror.status;
  const health = mirrorHealth(status);
  const run = status?.lastRun ?? null;
  const duration = runDuration(run);
  const endpoints = `<code>${escapeHtml(redactUrl(mirror.source))}</code><br>→ ${mirror.targets.map((target) => `<code>${escapeHtml(redactUrl(target))}</code>`).join('<br>')}`;
  const cells = [
    ['Mirror', `<a class="mirror-link" href="mirrors/${escapeHtml(encodeURIComponent(mirror.id))}">${escapeHtml(mirror.id)}</a> <span class="muted">${escapeHtml(mirror.mode)}</span>`],
    ['Source → targets', endpoints],
    ['Last outcome', `${badge(health)}${runningBadge(status)}${outcomeDetails(run)}`],
    ['Last success', timeAndAge(status?.lastSuccess ?? null, now, 'never')],
    ['Last run', run === null ? '<span class="muted">none</span>' : `${duration === null ? '' : `${escapeHtml(formatDuration(duration))}<br>`}<span class="muted">${timeOnly(run.startedAt)}</span>`],
    ['Bytes', bytesText(run)],
    ['Next run', timeAndAge(status?.nextRun ?? null, now, 'not scheduled')],
    ['Failing since', failingSince(status, now)],
  ];
  return `<tr class="health-${health}" data-mirror="${escapeHtml(mirror.id)}">${cells.map(([label, html]) => `<td data-label="${label}"${label === 'Source → targets' ? ' class="endpoints"' : ''}>${html}</td>`).join('')}</tr>`;
}

function runsTable(runs: readonly RunRow[], now: Date): string {
  const head = ['Started', 'Trigger', 'Outcome', 'Relay', 'Duration', 'Bytes', 'Refs changed', 'Error'];
  const rows = runs.map((run) => {
    const duration = runDuration(run);
    const error =
      run.errorCode === null && run.errorMessage === null
        ? ''
        : `<code>${escapeHtml(run.errorCode ?? '')}</code> <span class="message">${escapeHtml(redactUrlsIn(run.errorMessage ?? ''))}</span>`;
    const outcome = run.outcome === null ? `<span class="badge running">running</span>` : `<span class="badge ${outcomeClass(run.outcome)}">${escapeHtml(run.outcome)}</span>`;
    const cells = [
      ['Started', `${timeOnly(run.startedAt, true)} <span class="muted">${escapeHtml(formatAge(run.startedAt, now))}</span>`],
      ['Trigger', escapeHtml(run.trigger)],
      ['Outcome', `${outcome}${run.reason === null ? '' : ` <span class="reason">${escapeHtml(redactUrlsIn(run.reason))}</span>`}`],
      ['Relay', escapeHtml(run.relayMode ?? '')],
      ['Duration', duration === null ? '' : escapeHtml(formatDuration(duration))],
      ['Bytes', bytesText(run)],
      ['Refs changed', run.refsChanged === null ? '' : String(run.refsChanged)],
      ['Error', error],
    ];
    return `<tr data-run="${run.id}">${cells.map(([label, html]) => `<td data-label="${label}">${html}</td>`).join('')}</tr>`;
  });
  return `<div class="table-wrap"><table class="runs"><thead><tr>${head.map((label) => `<th scope="col">${label}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

/** The "sync now" form: the page token goes in the form body (no cookie, so no cross-site request can carry it). */
function syncForm(mirror: PageMirror, options: PageOptions): string {
  if (!options.syncEnabled) {
    return '<p class="readonly muted">Read-only: no page token is configured (<code>serve.page-token-env</code>), so this page cannot start a run.</p>';
  }
  return [
    `<form class="sync" method="post" action="${escapeHtml(encodeURIComponent(mirror.id))}/sync">`,
    '<label>Page token <input type="password" name="token" autocomplete="current-password" required></label>',
    '<button type="submit">Sync now</button>',
    '<noscript><span class="muted">Scripts are off, so this page does not refresh itself while a token may be typed: <a href="">reload</a> it to see new runs.</span></noscript>',
    '</form>',
  ].join('');
}

function summaryLine(mirrors: readonly PageMirror[], now: Date): string {
  const count = (health: MirrorHealth): number => mirrors.filter((mirror) => mirrorHealth(mirror.status) === health).length;
  const running = mirrors.filter((mirror) => mirror.status?.runningSince != null).length;
  const synced = mirrors.filter((mirror) => mirror.status?.lastSuccess != null);
  const never = mirrors.length - synced.length;
  let oldest = '<span class="muted">none yet</span>';
  if (synced.length > 0) {
    const stalest = synced.reduce((a, b) => (a.status!.lastSuccess!.getTime() <= b.status!.lastSuccess!.getTime() ? a : b));
    oldest = `${timeAndAge(stalest.status!.lastSuccess, now, '')} (${escapeHtml(stalest.id)})`;
  }
  const parts = [
    `<span data-count="mirrors"><b>${mirrors.length}</b> mirror(s)</span>`,
    `<span data-count="healthy"><b>${count('healthy')}</b> healthy</span>`,
    `<span data-count="failing" class="${count('failing') > 0 ? 'alert' : ''}"><b>${count('failing')}</b> failing</span>`,
    `<span data-count="blocked" class="${count('blocked') > 0 ? 'warn' : ''}"><b>${count('blocked')}</b> blocked</span>`,
    `<span data-count="running"><b>${running}</b> running now</span>`,
    `<span data-count="oldest">oldest successful sync: ${oldest}${never > 0 ? `; <b>${never}</b> never synced` : ''}</span>`,
  ];
  return `<p class="summary">${parts.join(' · ')}</p>`;
}

function badge(health: MirrorHealth): string {
  return `<span class="badge ${health}">${HEALTH_WORDS[health]}</span>`;
}

function runningBadge(status: MirrorStatus | null): string {
  return status?.runningSince == null ? '' : ` <span class="badge running" title="since ${escapeHtml(status.runningSince.toISOString())}">running</span>`;
}

function failingSince(status: MirrorStatus | null, now: Date): string {
  if (status?.failingSince == null) return '<span class="muted">—</span>';
  const runs = status.consecutiveFailures;
  return `<span class="badge since">for ${escapeHtml(formatSpan(now.getTime() - status.failingSince.getTime()))}</span> ${timeOnly(status.failingSince)} <span class="muted">${runs} run(s) in a row</span>`;
}

/** Why the run ended as it did: the runner's reason, then the error's code and message. */
function outcomeDetails(run: RunRow | null): string {
  if (run === null) return '';
  const reason = run.reason === null ? '' : `<span class="reason">${escapeHtml(redactUrlsIn(run.reason))}</span>`;
  const code = run.errorCode === null || run.errorCode === run.reason ? '' : `<code>${escapeHtml(run.errorCode)}</code> `;
  const message = run.errorMessage === null ? '' : `<span class="message clamp">${code}${escapeHtml(redactUrlsIn(run.errorMessage))}</span>`;
  return `${reason}${message}`;
}

function runDuration(run: RunRow | null): number | null {
  return run?.finishedAt == null ? null : run.finishedAt.getTime() - run.startedAt.getTime();
}

/** The bytes a run moved: from the source, or to the targets when more went there (several targets). */
function runBytes(run: RunRow | null): number | null {
  if (run === null || (run.bytesFromSource === null && run.bytesToTarget === null)) return null;
  return Math.max(run.bytesFromSource ?? 0, run.bytesToTarget ?? 0);
}

function bytesText(run: RunRow | null): string {
  if (run === null || (run.bytesFromSource === null && run.bytesToTarget === null)) return '';
  const from = run.bytesFromSource === null ? '?' : formatBytes(run.bytesFromSource);
  const to = run.bytesToTarget === null ? '?' : formatBytes(run.bytesToTarget);
  return `<span title="from the source → to the target(s)"><span class="nowrap">${escapeHtml(from)}</span> → <span class="nowrap">${escapeHtml(to)}</span></span>`;
}

/** A `<time>` with the ISO instant (the script shows it in the viewer's locale), then its age. */
function timeAndAge(at: Date | null, now: Date, none: string): string {
  if (at === null) return `<span class="muted">${escapeHtml(none)}</span>`;
  return `${timeOnly(at)} <span class="muted">${escapeHtml(formatAge(at, now))}</span>`;
}

/** `withSeconds`: where runs minutes apart must be told apart (a mirror's runs). */
function timeOnly(at: Date, withSeconds = false): string {
  const iso = at.toISOString();
  return `<time datetime="${iso}"${withSeconds ? ' data-seconds' : ''}>${iso.slice(0, withSeconds ? 19 : 16).replace('T', ' ')} UTC</time>`;
}

function asOf(now: Date): string {
  return `<p class="as-of muted">As of ${timeOnly(now)}<span class="stale-note"> · the service did not answer the last refresh</span></p>`;
}

function noticeHtml(options: PageOptions): string {
  const notice = options.notice ?? null;
  return notice === null ? '' : `<p class="notice ${notice.kind}" role="status">${escapeHtml(notice.text)}</p>`;
}

/** Every URL in free text, redacted. */
function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (url) => redactUrl(url));
}

function documentHtml(title: string, header: string, body: string, options: PageOptions, metaRefresh = true): string {
  const refresh = options.refreshSeconds ?? DEFAULT_REFRESH_SECONDS;
  const meta = refresh > 0 && metaRefresh ? `<noscript><meta http-equiv="refresh" content="${refresh}"></noscript>` : '';
  return [
    '<!doctype html>',
    `<html lang="en" data-refresh="${refresh}">`,
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    meta,
    `<style>${PAGE_STYLE}</style>`,
    '</head>',
    `<body><header>${header}</header><main>${body}</main>`,
    refresh > 0 ? `<script>${PAGE_SCRIPT}</script>` : '',
    '</body></html>\n',
  ].join('');
}

const PAGE_STYLE = `
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--line:#d1d9e0;--head:#f6f8fa;
--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--info:#0969da;--grey:#6e7781}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--line:#3d444d;--head:#151b23;
--ok:#3fb950;--bad:#f85149;--warn:#d29922;--info:#4493f8;--grey:#9198a1}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1400px;padding:12px 16px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:4px 0 8px}h2{font-size:17px;margin:18px 0 6px}
a{color:var(--info)}code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.muted{color:var(--muted)}time,.nowrap{white-space:nowrap}.as-of{margin:0 0 6px;font-size:12px}.stale-note{display:none;color:var(--bad)}.stale .stale-note{display:inline}
.summary{margin:6px 0 12px;font-size:15px}.summary .alert b{color:var(--bad)}.summary .warn b{color:var(--warn)}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{background:var(--head);font-weight:600;white-space:nowrap}th a{color:inherit;text-decoration:none}th a:hover{text-decoration:underline}
td.endpoints{min-width:19em}
tr.health-failing td:first-child{box-shadow:inset 3px 0 var(--bad)}tr.health-blocked td:first-child{box-shadow:inset 3px 0 var(--warn)}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600;line-height:19px;color:#fff;background:var(--grey);white-space:nowrap}
.badge.healthy,.badge.success,.badge.noop{background:var(--ok)}.badge.failing,.badge.failed,.badge.since{background:var(--bad)}
.badge.blocked{background:var(--warn)}.badge.running{background:var(--info)}
.reason,.message{display:block;margin-top:2px;overflow-wrap:anywhere;white-space:pre-wrap}.message{font-size:12px;color:var(--muted)}
.clamp{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:6px 18px;margin:8px 0}
.facts div{min-width:0}.facts dt{font-size:12px;color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}
form.sync{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0;padding:8px;border:1px solid var(--line);border-radius:6px}
form.sync input{font:inherit;padding:4px 6px}form.sync button{font:inherit;padding:4px 12px;cursor:pointer}
.notice{padding:6px 10px;border-radius:6px;border:1px solid var(--line)}.notice.ok{border-color:var(--ok)}.notice.error{border-color:var(--bad);color:var(--bad)}
svg.chart{width:100%;max-width:760px;height:auto;display:block;margin:4px 0 10px}
.chart-title{font-size:12px;font-weight:600;fill:var(--fg)}.chart-axis{font-size:11px;fill:var(--muted)}.chart-base{stroke:var(--line)}
.bar{fill:var(--grey)}.bar.success,.bar.noop{fill:var(--ok)}.bar.failed{fill:var(--bad)}.bar.blocked{fill:var(--warn)}.bar.missing{fill:var(--line)}
footer{margin-top:16px;font-size:12px;color:var(--muted)}
@media (max-width:720px){
body{padding:8px}
table,thead,tbody,tr,td{display:block}thead tr{display:flex;flex-wrap:wrap;gap:4px}thead th{border:0;padding:2px 6px;border-radius:4px}
tbody tr{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:4px 0}
td,td.endpoints{border:0;padding:3px 10px 3px 8.5em;position:relative;min-height:1.6em;min-width:0}td::before{content:attr(data-label);position:absolute;left:10px;width:7.5em;color:var(--muted);font-size:12px;line-height:20px}td:empty{display:none}table.runs thead{display:none}
.chart-title{font-size:20px}.chart-axis{font-size:18px}
tr.health-failing,tr.health-blocked{border-left-width:4px}tr.health-failing{border-left-color:var(--bad)}tr.health-blocked{border-left-color:var(--warn)}
tr.health-failing td:first-child,tr.health-blocked td:first-child{box-shadow:none}
}
`;

/**
 * Refreshes `#live` in place every `data-refresh` seconds (while the tab is visible), follows
 * the sort links the same way, and shows every `<time>` in the viewer's locale.
 */
const PAGE_SCRIPT = `
(() => {
  const root = document.documentElement;
  const every = Number(root.dataset.refresh) * 1000;
  const localize = (scope) => {
    for (const time of scope.querySelectorAll('time[datetime], text[data-datetime]')) {
      const iso = time.getAttribute('datetime') ?? time.getAttribute('data-datetime');
      const at = new Date(iso);
      if (Number.isNaN(at.getTime())) continue;
      const seconds = time.hasAttribute('data-seconds') ? { second: '2-digit' } : {};
      if (time.localName === 'time') time.title = iso;
      time.textContent = at.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', ...seconds });
    }
  };
  const load = async (url, push) => {
    try {
      const response = await fetch(url, { headers: { accept: 'text/html' }, cache: 'no-store', credentials: 'omit' });
      if (!response.ok) throw new Error(String(response.status));
      const next = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('live');
      const current = document.getElementById('live');
      if (next === null || current === null) throw new Error('no #live');
      localize(next);
      current.replaceWith(next);
      root.classList.remove('stale');
      if (push) history.pushState(null, '', url);
    } catch {
      root.classList.add('stale');
    }
  };
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a[data-sort]') : null;
    if (link === null || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    void load(link.href, true);
  });
  window.addEventListener('popstate', () => void load(location.href, false));
  setInterval(() => {
    if (document.visibilityState === 'visible') void load(location.href, false);
  }, every);
  localize(document);
})();
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The Content-Security-Policy every page is served with: only the page's own style and script
 * run (by hash), no other origin is contacted, and forms post only to the service. Markup that
 * slipped past escaping could still not run a script.
 */
export const PAGE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src ${sha256(PAGE_STYLE)}`,
  `script-src ${sha256(PAGE_SCRIPT)}`,
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');
