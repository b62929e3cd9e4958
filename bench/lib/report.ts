/**
 * The report every scenario returns and how the runner prints it: a few compact tables of
 * figures, then one line per goal with PASS or FAIL, then notes (what was counted, and how).
 */

export interface Table {
  title: string;
  columns: readonly string[];
  rows: readonly (readonly string[])[];
}

/** A stated goal (or a sanity check the figures depend on) and whether the measurement meets it. */
export interface Goal {
  label: string;
  /** The bar, as stated: `<= 2 fetch requests`, `< 150 MiB`. */
  expected: string;
  measured: string;
  pass: boolean;
}

export interface ScenarioReport {
  scenario: string;
  tables: Table[];
  goals: Goal[];
  notes: string[];
}

const MIB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** Bytes in the unit that keeps the figure readable. */
export function size(bytes: number): string {
  if (bytes >= MIB) return mib(bytes);
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function seconds(millis: number): string {
  return millis >= 10_000 ? `${(millis / 1000).toFixed(1)} s` : `${(millis / 1000).toFixed(2)} s`;
}

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : 'n/a';
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `median (min-max)` of wall times, or the single figure for one run. */
export function spread(millis: readonly number[]): string {
  if (millis.length === 1) return seconds(millis[0]!);
  return `${seconds(median(millis))} (${seconds(Math.min(...millis))}-${seconds(Math.max(...millis))})`;
}

export function renderTable(table: Table): string {
  const widths = table.columns.map((column, i) => Math.max(column.length, ...table.rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [
    `  ${table.title}`,
    `    ${line(table.columns)}`,
    `    ${widths.map((w) => '-'.repeat(w)).join('  ')}`,
    ...table.rows.map((row) => `    ${line(row)}`),
  ].join('\n');
}

export function renderReport(report: ScenarioReport): string {
  const parts = [`== ${report.scenario} ==`];
  for (const table of report.tables) parts.push(renderTable(table), '');
  if (report.goals.length > 0) {
    const width = Math.max(...report.goals.map((goal) => goal.label.length));
    parts.push('  goals');
    for (const goal of report.goals) {
      parts.push(`    ${goal.pass ? 'PASS' : 'FAIL'}  ${goal.label.padEnd(width)}  ${goal.measured} (goal ${goal.expected})`);
    }
    parts.push('');
  }
  for (const note of report.notes) parts.push(`  note: ${note}`);
  return `${parts.join('\n').trimEnd()}\n`;
}
