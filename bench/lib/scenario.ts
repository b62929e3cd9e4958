/**
 * What a benchmark scenario is. A module under `bench/` that exports `scenario: Scenario` is
 * picked up by the runner (`npm run bench -- <name>`); modules that export none are skipped.
 */
import type { ScenarioReport } from './report.js';

export interface ScenarioContext {
  /** `--quick`: smaller generated repositories and fewer runs. */
  quick: boolean;
  /** Timed repetitions per measurement (`--runs`; 3 by default, 1 with `--quick`). */
  runs: number;
  /** Where generated repositories are kept between invocations. */
  cacheDir: string;
  /** A progress line on stderr (generation, each run), so a long scenario is not silent. */
  log(message: string): void;
}

export interface Scenario {
  name: string;
  description: string;
  run(context: ScenarioContext): Promise<ScenarioReport>;
}
