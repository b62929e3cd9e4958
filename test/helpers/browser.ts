/**
 * Headless Chromium for the status page's tests: Debian's `chromium` package, driven through
 * playwright-core (which downloads no browser of its own). Tests that need it skip loudly
 * without it off CI, and fail under CI (test/helpers/system.ts).
 */
import { chromium, type Browser } from 'playwright-core';
import { missingSystemTool } from './system.js';

export const CHROMIUM_BINARY = '/usr/bin/chromium';

/** A skip message when Chromium is missing (and this is not CI); false when the tests run. */
export function missingChromium(): string | false {
  return missingSystemTool(CHROMIUM_BINARY, 'chromium');
}

/** Starts headless Chromium; close it with `browser.close()`. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_BINARY, headless: true });
}
