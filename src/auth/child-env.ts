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
