/**
 * Text and JSON renderings of results (docs/json.md). Every text line is escaped as a whole
 * (observe/terminal-text.ts): a ref name, a capability or a URL from a server shows its control
 * characters as `^[`, `^M`, `<U+009B>` and cannot end its line early; JSON escapes them as
 * `\uXXXX` (docs/security.md, "Clean terminals and valid ref names").
 */
import type { FetchResult } from '../api/fetch.js';
import type { ResultPlan, SyncResult } from '../api/plan.js';
import type { ProbeResult } from '../api/probe.js';
import type { Measurement } from '../observe/memory.js';
import type { StatsReport } from '../observe/stats.js';
import { escapeControlCharacters, escapeJsonText, hasControlCharacters } from '../observe/terminal-text.js';
import type { InvalidRefName } from '../types.js';

export function toJson(value: unknown): string {
  return `${escapeJsonText(JSON.stringify(value, null, 2))}\n`;
}

/**
 * Lines as one text, each line escaped on its own. The text is scanned once as a whole first: when
 * it holds no control character but line feeds, and exactly one line feed between each two lines
 * (so no line held one of its own), there is nothing to escape. A no-op over 10,000 refs renders
 * 10,001 lines, which one native scan clears where 10,001 calls ran in code V8 had not compiled
 * yet (docs/architecture.md, "No-op runs at scale").
 */
export function textOf(lines: readonly string[]): string {
  const text = lines.join('\n');
  if (lineFeeds(text) === Math.max(lines.length - 1, 0) && !hasControlCharacters(text, { keepNewlines: true })) return `${text}\n`;
  return `${lines.map((line) => escapeControlCharacters(line)).join('\n')}\n`;
}

function lineFeeds(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count += 1;
  return count;
}

/** The parts of any result that say which listed names were skipped. */
export interface ListedSides {
  source?: { invalidRefs?: readonly InvalidRefName[] } | null;
  target?: { invalidRefs?: readonly InvalidRefName[] } | null;
}

/**
 * A `warning:` line (for stderr) per ref name a side listed that git refuses and the run skipped
 * (plan/listed-refs.ts), the name escaped. `sides` limits them to one side (a run with several
 * targets says the source's once).
 */
export function invalidRefWarnings(result: ListedSides, sides: readonly ('source' | 'target')[] = ['source', 'target']): string {
  const lines = sides.flatMap((side) =>
    (result[side]?.invalidRefs ?? []).map((ref) => `warning: the ${side} lists the ref name '${ref.name}', which git refuses: it ${ref.problem}; skipped`),
  );
  return lines.length === 0 ? '' : textOf(lines);
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function statsLines(stats: StatsReport | null): string[] {
  if (stats === null) return [];
  const lines: string[] = [];
  for (const [name, phase] of Object.entries(stats.phases)) {
    const extra = [
      phase.wants > 0 ? `wants=${phase.wants}` : '',
      phase.haves > 0 ? `haves=${phase.haves}` : '',
      phase.commands > 0 ? `commands=${phase.commands}` : '',
    ].filter(Boolean);
    lines.push(
      `stats: ${name}: requests=${phase.requests} sent=${phase.requestBytes} received=${phase.responseBytes}${extra.length ? ` ${extra.join(' ')}` : ''}`,
    );
  }
  for (const side of ['source', 'target'] as const) {
    const s = stats[side];
    if (s.requests > 0) {
      lines.push(`stats: ${side}: sent=${s.bytesSent} received=${s.bytesReceived} rate=${mib(s.bytesPerSecond)}/s`);
    }
  }
  return lines;
}

export function measurementLines(measurement: Measurement | null): string[] {
  if (measurement === null) return [];
  return [
    `measurement: elapsed=${measurement.elapsedMillis}ms peak-rss=${mib(measurement.peakRssBytes)} peak-heap=${mib(measurement.peakHeapUsedBytes)} gc=${measurement.gcCount}`,
  ];
}

export function renderProbeText(result: ProbeResult): string {
  const lines = [
    `source: ${result.source.url}`,
    `protocol: ${result.source.protocol}`,
    `source-head: ${result.source.head ?? '(none)'}`,
    `capabilities: ${result.source.capabilities.join(' ')}`,
  ];
  if (result.target) {
    lines.push(`target: ${result.target.url}`, `target-capabilities: ${result.target.capabilities.join(' ')}`);
  }
  lines.push(`refs (${result.refPrefixes.join(', ')}): ${result.refs.length}`);
  for (const ref of result.refs) {
    lines.push(`${ref.hash} ${ref.name}${ref.peeled ? ` (peeled ${ref.peeled})` : ''}`);
  }
  lines.push(...statsLines(result.stats), ...measurementLines(result.measurement));
  return textOf(lines);
}

export function renderFetchText(result: FetchResult): string {
  const o = result.objects;
  const lines = [
    `source: ${result.source.url} (${result.source.protocol})`,
    `wants: ${result.wants.length}, haves: ${result.haves.length}`,
    `pack: ${result.packBytes} bytes, ${o.total} objects (commit ${o.commit}, tree ${o.tree}, blob ${o.blob}, tag ${o.tag})`,
    `source-head: ${result.source.head ?? '(none)'}`,
    ...statsLines(result.stats),
    ...measurementLines(result.measurement),
  ];
  return textOf(lines);
}

/** The JSON of a failed probe: every key present, absent values null (docs/json.md). */
export function failedProbeJson(url: string | null, error: { code: string; message: string }): object {
  return {
    source: url === null ? null : { url, protocol: null, head: null, capabilities: [], invalidRefs: [] },
    target: null,
    refPrefixes: [],
    refs: [],
    stats: null,
    measurement: null,
    error,
  };
}

export function failedFetchJson(url: string | null, error: { code: string; message: string }): object {
  return {
    source: url === null ? null : { url, protocol: null, head: null, invalidRefs: [] },
    wants: [],
    haves: [],
    packBytes: 0,
    objects: { commit: 0, tree: 0, blob: 0, tag: 0, total: 0 },
    stats: null,
    measurement: null,
    error,
  };
}

/** What the target did with a ref, when it is not what the action says: a run that failed or was refused. */
function outcomeNote(result: SyncResult, plan: ResultPlan): string {
  const pushes = plan.action === 'create' || plan.action === 'update' || plan.action === 'delete' || plan.action === 'warn';
  if (result.dryRun || !pushes) return '';
  if (plan.applied === false) return ' (not applied)';
  if (plan.applied === null) return ' (not known whether applied: the target could not be listed again)';
  return '';
}

/** Where the landed batches' time went, summed (docs/json.md, "A batch entry"). */
function batchTimeNote(batches: SyncResult['batches']): string {
  if (batches.length === 0) return '';
  const sum = (pick: (batch: SyncResult['batches'][number]) => number): string => `${(batches.reduce((total, batch) => total + pick(batch), 0) / 1000).toFixed(1)} s`;
  return ` (source before its first bytes ${sum((b) => b.sourceWaitMillis)}, streaming ${sum((b) => b.transferMillis)}, target after the last bytes ${sum((b) => b.targetWaitMillis)}, other ${sum((b) => b.otherMillis)})`;
}

/** Each action as the text report spells it: one string each, not a new one per line. */
const ACTION_WORDS: Readonly<Record<ResultPlan['action'], string>> = {
  create: 'CREATE', update: 'UPDATE', delete: 'DELETE', skip: 'SKIP', block: 'BLOCK', warn: 'WARN',
};

/** docs/json.md text: `ACTION targetRef - reason` per ref, a summary line, then details. */
export function renderSyncText(result: SyncResult): string {
  const lines = result.plans.map((plan) => `${ACTION_WORDS[plan.action]} ${plan.targetRef} - ${plan.reason}${outcomeNote(result, plan)}`);
  const counts = `pushed=${result.pushed} deleted=${result.deleted} skipped=${result.skipped} blocked=${result.blocked} warned=${result.warned}`;
  const mode = result.operation === 'plan' ? ` mode=${result.mode}` : '';
  lines.push(
    `summary: ${result.operation}${result.dryRun ? ' (dry run)' : ''}${mode} ${counts} relay=${result.relayMode} reason=${result.relayReason}`
      + `${result.bootstrapSuggested ? ' bootstrap-suggested' : ''} max-deletes=${result.maxDeletes}`,
  );
  if (result.batching) lines.push(`batches: ${result.batchCount} of ${result.plannedBatchCount} planned${batchTimeNote(result.batches)}`);
  if (result.tempRefs.length > 0) lines.push(`temp-refs: ${result.tempRefs.join(' ')}`);
  lines.push(...statsLines(result.stats), ...measurementLines(result.measurement));
  lines.push(`source-head: ${result.source.head ?? '(none)'}`);
  return textOf(lines);
}

export function failedSyncJson(
  operation: SyncResult['operation'],
  mode: SyncResult['mode'],
  dryRun: boolean,
  urls: { source: string | null; target: string | null },
  error: { code: string; message: string },
): object {
  return {
    operation,
    mode,
    dryRun,
    source: urls.source === null ? null : { url: urls.source, protocol: null, head: null, invalidRefs: [] },
    target: urls.target === null ? null : { url: urls.target, capabilities: [], head: null, invalidRefs: [] },
    plans: [],
    pushed: 0,
    deleted: 0,
    skipped: 0,
    blocked: 0,
    warned: 0,
    relay: false,
    relayMode: 'none',
    relayReason: null,
    bootstrapSuggested: false,
    batching: false,
    batchCount: 0,
    plannedBatchCount: 0,
    batches: [],
    tempRefs: [],
    maxDeletes: null,
    stats: null,
    measurement: null,
    error,
  };
}
