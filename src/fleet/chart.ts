/**
 * The mirror page's chart (docs/fleet.md, "Status page"): durations and bytes of a mirror's
 * recent runs as two bar panels in one inline SVG, rendered on the server. Two series of at most
 * a few dozen bars need no chart library: this is a handful of rectangles and labels, and it
 * keeps the page free of any script the chart would need. Colours come from the page's CSS
 * (classes per outcome), so the SVG carries no style attribute the page's CSP would refuse.
 */
import { escapeHtml, formatBytes, formatDuration } from './format.js';

/** One finished run, oldest first in the list given to renderRunChart. */
export interface ChartRun {
  id: number;
  startedAt: Date;
  durationMillis: number | null;
  /** Bytes the run moved (from the source; the larger side when they differ). */
  bytes: number | null;
  outcome: string | null;
}

const WIDTH = 640;
const PANEL = 90;
const GAP = 34;
const LEFT = 64;
const RIGHT = 8;
const TOP = 20;

/** An `<svg>` element, or a short paragraph when there is no finished run to draw. */
export function renderRunChart(runs: readonly ChartRun[]): string {
  if (runs.length === 0) return '<p class="muted">No finished run to chart yet.</p>';
  const height = TOP + PANEL + GAP + PANEL + 22;
  const slot = (WIDTH - LEFT - RIGHT) / runs.length;
  const barWidth = Math.max(2, Math.min(28, slot * 0.7));
  const panels = [
    panel('Duration', runs.map((run) => run.durationMillis), formatDuration, TOP),
    panel('Bytes', runs.map((run) => run.bytes), formatBytes, TOP + PANEL + GAP),
  ];
  const parts: string[] = [];
  for (const { title, values, format, top, max } of panels) {
    const bottom = top + PANEL;
    parts.push(`<text class="chart-title" x="0" y="${top - 8}">${escapeHtml(title)}</text>`);
    parts.push(`<text class="chart-axis" x="${LEFT - 6}" y="${top + 10}" text-anchor="end">${escapeHtml(format(max))}</text>`);
    parts.push(`<text class="chart-axis" x="${LEFT - 6}" y="${bottom}" text-anchor="end">0</text>`);
    parts.push(`<line class="chart-base" x1="${LEFT}" y1="${bottom}" x2="${WIDTH - RIGHT}" y2="${bottom}"/>`);
    values.forEach((value, index) => {
      const run = runs[index]!;
      const x = LEFT + index * slot + (slot - barWidth) / 2;
      const label = `run ${run.id}, ${run.startedAt.toISOString()}, ${run.outcome ?? 'running'}: ${value === null ? 'no figure' : format(value)}`;
      if (value === null) {
        parts.push(`<rect class="bar missing" x="${num(x)}" y="${bottom - 2}" width="${num(barWidth)}" height="2"><title>${escapeHtml(label)}</title></rect>`);
        return;
      }
      // A run with a figure gets at least a pixel, so a tiny no-op is still seen as a run.
      const barHeight = max === 0 ? 1 : Math.max(1, (value / max) * PANEL);
      parts.push(
        `<rect class="bar ${outcomeClass(run.outcome)}" x="${num(x)}" y="${num(bottom - barHeight)}" width="${num(barWidth)}" height="${num(barHeight)}"><title>${escapeHtml(label)}</title></rect>`,
      );
    });
  }
  // The first and last run's start, in UTC; the page's script shows them in the viewer's locale (data-datetime).
  const first = runs[0]!.startedAt.toISOString();
  const last = runs[runs.length - 1]!.startedAt.toISOString();
  parts.push(`<text class="chart-axis" x="${LEFT}" y="${height - 4}" data-datetime="${first}">${first.slice(0, 16).replace('T', ' ')} UTC</text>`);
  parts.push(`<text class="chart-axis" x="${WIDTH - RIGHT}" y="${height - 4}" text-anchor="end" data-datetime="${last}">${last.slice(0, 16).replace('T', ' ')} UTC</text>`);
  const summary = `Durations and bytes of the last ${runs.length} finished run(s), oldest on the left`;
  return `<svg class="chart" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeHtml(summary)}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

/** The CSS class of a run's outcome: its name when it is one the page knows, else `other`. */
export function outcomeClass(outcome: string | null): string {
  switch (outcome) {
    case 'success':
    case 'noop':
    case 'failed':
    case 'blocked':
    case 'aborted':
      return outcome;
    case null:
      return 'running';
    default:
      return 'other';
  }
}

function panel(title: string, values: (number | null)[], format: (value: number) => string, top: number) {
  const max = Math.max(0, ...values.filter((value): value is number => value !== null));
  return { title, values, format, top, max };
}

function num(value: number): string {
  return String(Math.round(value * 10) / 10);
}
