/**
 * The environment of every process git-sync starts: ssh (and the program behind
 * `GIT_SSH_COMMAND`), `git upload-pack` and `git receive-pack` for local paths (and so the
 * target's hooks), remote helpers, `git credential`, `git config` (docs/security.md, "git's own
 * protocol rules"). A child gets the caller's environment, which its own configuration lives in
 * (ssh agents, proxies, `GIT_*`), without what is git-sync's alone: every `GITSYNC_*` variable
 * (the tokens among them), and any variable holding one of the run's secrets (a token an
 * embedding program read from `MIRROR_TOKEN` and passed as an option). A credential is sent
 * by git-sync itself, over HTTP; no child ever needs one.
 */

/** Secrets shorter than this are not searched for in other variables (they would match by chance). */
const MIN_SECRET_LENGTH = 4;

/** `base` without git-sync's own variables and without any variable whose value holds a secret. */
export function childEnv(base: NodeJS.ProcessEnv, secrets: readonly (string | null | undefined)[] = []): NodeJS.ProcessEnv {
  const hidden = secrets.filter((secret): secret is string => typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || /^GITSYNC_/i.test(name)) continue;
    if (hidden.some((secret) => value.includes(secret))) continue;
    env[name] = value;
  }
  return env;
}

/** What of a side's options (api/options.ts, EndpointOptions) can hold a secret. */
export interface SideSecrets {
  url: string;
  token?: string | null;
  bearerToken?: string | null;
}

/** The sides a verb's options name: their secrets are kept from every child process. */
export interface RunSides {
  source?: SideSecrets | null;
  target?: SideSecrets | null;
  targets?: readonly SideSecrets[];
}

/** Every secret the sides carry: tokens, and passwords embedded in their URLs. */
export function runSecrets(sides: RunSides): string[] {
  const all = [sides.source, sides.target, ...(sides.targets ?? [])].filter((side): side is SideSecrets => side !== undefined && side !== null);
  const out: string[] = [];
  for (const side of all) {
    if (side.token) out.push(side.token);
    if (side.bearerToken) out.push(side.bearerToken);
    try {
      const password = decodeURIComponent(new URL(side.url).password);
      if (password !== '') out.push(password);
    } catch {
      // Not a URL with a password (a path, scp-like): nothing to hide.
    }
  }
  return out;
}

/** The environment of every child process of a run with these options. */
export function runChildEnv(options: { env?: NodeJS.ProcessEnv | undefined } & RunSides): NodeJS.ProcessEnv {
  return childEnv(options.env ?? process.env, runSecrets(options));
}
