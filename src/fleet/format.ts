/**
 * Text for the status page (docs/fleet.md, "Status page"): HTML escaping, and bytes, durations
 * and ages in few characters. Pure; the page and its chart share them.
 */
import { formatBytes } from '../observe/units.js';

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML element content and quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);
}

export { formatBytes };

/** `850 ms`, `3.2 s`, `4 min 05 s`, `2 h 07 min`. */
export function formatDuration(millis: number): string {
  if (millis < 1000) return `${Math.round(millis)} ms`;
  if (millis < 60_000) return `${(millis / 1000).toFixed(1)} s`;
  const seconds = Math.round(millis / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** How long ago `then` was, seen from `now` (`just now`, `5 min ago`, `3 h ago`, `2 d ago`), or how soon (`in a moment`, `in 4 min`). */
export function formatAge(then: Date, now: Date): string {
  const delta = now.getTime() - then.getTime();
  if (Math.abs(delta) < 45_000) return delta < 0 ? 'in a moment' : 'just now';
  return delta < 0 ? `in ${formatSpan(-delta)}` : `${formatSpan(delta)} ago`;
}

/** A length of time in one rounded unit: `< 1 min`, `5 min`, `3 h`, `2 d`. */
export function formatSpan(millis: number): string {
  const seconds = Math.abs(millis) / 1000;
  if (seconds < 45) return '< 1 min';
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
