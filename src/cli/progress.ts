/**
 * Draws the library's progress events (`--progress`, `-v`) on stderr, never on stdout: the
 * stdout of a `--json` run stays exactly the JSON.
 *
 * On a terminal a live block, redrawn in place by log-update, shows per-side throughput, the
 * phase or batch `i/N`, and each server's latest progress line; `-v` lines (decisions, finished
 * server lines) scroll above it; at the end a summary line takes its place. Off a terminal only
 * `-v` prints: its lines, and with `--progress` a throughput line every few seconds and the
 * summary. `NO_COLOR` (or `TERM=dumb`) turns colour off.
 */
import { styleText } from 'node:util';
import type { ProgressEvent } from '../observe/progress.js';
import type { Side } from '../observe/stats.js';
import { escapeControlCharacters } from '../observe/terminal-text.js';
import { ProgressState, type EndpointLabels } from './progress-state.js';
import { monotonicMillis } from '../builtins.js';

/** The part of a tty.WriteStream the live display needs (process.stderr on a terminal). */
export interface ProgressTerminal {
  write(text: string): unknown;
  readonly columns?: number;
  readonly rows?: number;
}

export interface ProgressSettings {
  progress: boolean;
  verbose: boolean;
  /** stderr when it is a terminal, else null. */
  terminal: ProgressTerminal | null;
  /** Writes plain text to stderr. */
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  labels: EndpointLabels;
}

export interface ProgressView {
  readonly listener: (event: ProgressEvent) => void;
  /** Replaces the live display with the summary line; call before anything goes to stdout. */
  finish(failed: boolean): void;
}

/** How often the live display is redrawn at most. */
const REDRAW_MILLIS = 100;
/** Off a terminal (`-v --progress`): one throughput line this often. */
const PLAIN_STATUS_MILLIS = 10_000;

type Painter = (format: Parameters<typeof styleText>[0], text: string) => string;

/** The view the flags and stderr call for, or null when nothing would be shown. */
export async function startProgress(given: ProgressSettings): Promise<ProgressView | null> {
  // Labels come from the URLs given, which may come from anywhere (a manifest, a webhook).
  const { source, target } = given.labels;
  const settings = { ...given, labels: { source: escapeControlCharacters(source), target: target === null ? null : escapeControlCharacters(target) } };
  if (settings.terminal !== null && (settings.progress || settings.verbose)) {
    // Loaded only for a live display: a run in a pipe or a script never pays for it.
    const { createLogUpdate } = await import('log-update');
    return new LiveView(settings, settings.terminal, createLogUpdate);
  }
  if (settings.verbose) return new PlainView(settings);
  return null;
}

/** NO_COLOR set to anything non-empty, or a dumb terminal, means no colour (no-color.org). */
export function colorWanted(env: NodeJS.ProcessEnv): boolean {
  return !(env.NO_COLOR !== undefined && env.NO_COLOR !== '') && env.TERM !== 'dumb';
}

function sideLabel(side: Side | 'git-sync', paint: Painter): string {
  const format = side === 'source' ? 'cyan' : side === 'target' ? 'magenta' : 'dim';
  return paint(format, `${side}:`);
}

type LogUpdateFactory = (typeof import('log-update'))['createLogUpdate'];

class LiveView implements ProgressView {
  private readonly state: ProgressState;
  private readonly started = monotonicMillis();
  private readonly draw: ReturnType<LogUpdateFactory>;
  private readonly timer: NodeJS.Timeout;
  private readonly paint: Painter;
  private dirty = true;
  private finished = false;

  constructor(
    private readonly settings: ProgressSettings,
    private readonly terminal: ProgressTerminal,
    createLogUpdate: LogUpdateFactory,
  ) {
    this.state = new ProgressState(settings.labels);
    const color = colorWanted(settings.env);
    // Colour is decided here (the terminal is stderr), not by styleText's look at stdout.
    this.paint = color ? (format, text) => styleText(format, text, { validateStream: false }) : (_format, text) => text;
    // A pseudo-terminal without a window size reports 0 columns and rows: draw as 80x24.
    const stream = {
      isTTY: true,
      write: (text: string) => terminal.write(text),
      get columns() {
        return terminal.columns || 80;
      },
      get rows() {
        return terminal.rows || 24;
      },
    } as unknown as NodeJS.WriteStream;
    this.draw = createLogUpdate(stream);
    this.timer = setInterval(() => this.redraw(), REDRAW_MILLIS);
    this.timer.unref();
  }

  readonly listener = (given: ProgressEvent): void => {
    if (this.finished) return;
    const event = shown(given);
    if (event.kind === 'decision') {
      if (this.settings.verbose) this.above(`${sideLabel('git-sync', this.paint)} ${event.message}`);
      return;
    }
    if (event.kind === 'server' && !event.transient && this.settings.verbose) {
      // A finished line (`..., done.`) stays on screen like git's own `remote:` lines.
      this.state.clearServerLine(event.side);
      this.above(`${sideLabel(event.side, this.paint)} ${event.message}`);
      return;
    }
    if (this.state.apply(event)) this.dirty = true;
  };

  finish(failed: boolean): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    this.draw.clear();
    this.draw.done();
    if (this.settings.progress && this.state.moved) {
      const line = this.state.summaryLine(monotonicMillis() - this.started, failed);
      this.terminal.write(`${sideLabel('git-sync', this.paint)} ${this.paint(failed ? 'red' : 'green', line)}\n`);
    }
  }

  /** Prints a line for good above the live block, then redraws the block under it. */
  private above(line: string): void {
    this.draw.persist(line);
    this.dirty = true;
    this.redraw();
  }

  private redraw(): void {
    if (!this.dirty || this.finished) return;
    this.dirty = false;
    const width = Math.max(20, (this.terminal.columns || 80) - 1);
    const lines: string[] = [];
    if (this.settings.progress) lines.push(truncate(this.state.statusLine(monotonicMillis() - this.started), width));
    for (const { side, message } of this.state.serverLines()) {
      lines.push(`${sideLabel(side, this.paint)} ${truncate(message, width - side.length - 2)}`);
    }
    if (lines.length === 0) this.draw.clear();
    else this.draw(lines.join('\n'));
  }
}

/** Off a terminal: `-v` lines as they come; with `--progress`, a throughput line now and then. */
class PlainView implements ProgressView {
  private readonly state: ProgressState;
  private readonly started = monotonicMillis();
  private lastStatus = monotonicMillis();
  private finished = false;

  constructor(private readonly settings: ProgressSettings) {
    this.state = new ProgressState(settings.labels);
  }

  readonly listener = (given: ProgressEvent): void => {
    if (this.finished) return;
    const event = shown(given);
    const write = this.settings.stderr;
    if (event.kind === 'decision') write(`git-sync: ${event.message}\n`);
    // In-place updates (`\r`) would be a flood in a log: only finished lines are printed.
    else if (event.kind === 'server' && !event.transient) write(`${event.side}: ${event.message}\n`);
    this.state.apply(event);
    const now = monotonicMillis();
    if (this.settings.progress && event.kind === 'transfer' && now - this.lastStatus >= PLAIN_STATUS_MILLIS) {
      this.lastStatus = now;
      write(`git-sync: progress: ${this.state.statusLine(now - this.started)}\n`);
    }
  };

  finish(failed: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (this.settings.progress && this.state.moved) this.settings.stderr(`git-sync: ${this.state.summaryLine(monotonicMillis() - this.started, failed)}\n`);
  }
}

/**
 * An event as it may be drawn: a server's line (its progress, a hook's output) and a decision
 * (which names refs) with their control characters escaped (docs/security.md, "Clean terminals
 * and valid ref names"), so no server moves the cursor, sets a title or colours the terminal.
 */
function shown(event: ProgressEvent): ProgressEvent {
  return event.kind === 'server' || event.kind === 'decision' ? { ...event, message: escapeControlCharacters(event.message) } : event;
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}
