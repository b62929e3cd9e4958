/**
 * The servers and fault carriers a matrix file runs its cases through, started together and
 * stopped together (even when a start fails: system.ts, `startAll`).
 *
 * - `http`: git http-backend (http-server.ts) behind the fault proxy (fault-proxy.ts).
 * - `local`: local paths; git-sync's `git upload-pack` / `git receive-pack` come from the fault
 *   `git` wrapper (fault-streams.ts), put first on this process's PATH.
 * - `git`: git daemon behind the fault TCP proxy.
 * - `ssh`: the test sshd, reached through the fault ssh wrapper (GIT_SSH_COMMAND); the side a
 *   case does not fault is a local path.
 * - `helper`: the test remote helper `git-remote-testproto` (remote-helper.ts), whose own
 *   `git upload-pack --stateless-rpc` and `git receive-pack` come from the fault `git` wrapper;
 *   the side a case does not fault is a local path.
 */
import { FaultEngine } from '../helpers/fault-engine.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startStreamFaults, type StreamFaults } from '../helpers/fault-streams.js';
import { startGitDaemon } from '../helpers/git-daemon.js';
import { makeTempDir } from '../helpers/git.js';
import { startGitHttpServer } from '../helpers/http-server.js';
import { installTestRemoteHelpers } from '../helpers/remote-helper.js';
import { startSshServer } from '../helpers/sshd.js';
import { startAll, type Closable } from '../helpers/system.js';
import { buildTemplates, SLOW_START_IDLE_TIMEOUT_MILLIS, SOURCE_CONFIG, type CarrierName, type MatrixEnv } from './matrix.js';

export interface Matrix {
  env: MatrixEnv;
  close(): Promise<void>;
}

const SERVER_CONFIG = Object.fromEntries(Object.entries(SOURCE_CONFIG).map(([key, value]) => [key, String(value)]));

export async function startMatrix(carrier: CarrierName): Promise<Matrix> {
  const engine = new FaultEngine();
  const closables: Closable[] = [];
  const close = async (): Promise<void> => {
    engine.releaseStalls();
    for (const closable of closables.reverse()) await closable.close().catch(() => undefined);
  };
  try {
    if (carrier === 'http') {
      const [server] = await startAll(() => startGitHttpServer({ config: SERVER_CONFIG }));
      closables.push(server);
      const proxy = await startFaultProxy({ upstream: server.baseUrl, engine });
      closables.push(proxy);
      await buildTemplates(server.root);
      return {
        close,
        env: {
          carrier,
          engine,
          root: server.root,
          url: (repo) => proxy.url(repo),
          openConnections: (repos) => proxy.openConnections(repos),
          idle: async (repos) => {
            await proxy.idle(repos);
            await server.idle(repos);
          },
        },
      };
    }
    const root = makeTempDir('gitsync-faults-');
    closables.push({ close: () => root.remove() });
    let streams: StreamFaults;
    let url: (repo: string) => string;
    let plainUrl: ((repo: string) => string) | undefined;
    let idleTimeoutMillis: number | undefined;
    if (carrier === 'ssh') {
      const sshd = await startSshServer();
      closables.push(sshd);
      // The cheapest key exchange and cipher: a case opens a few sessions, and each pays for one.
      // (Not multiplexed: sessions through a ControlMaster lost GIT_PROTOCOL here.)
      streams = await startStreamFaults({ engine, realSshCommand: `${sshd.sshCommand} -o KexAlgorithms=curve25519-sha256 -o Ciphers=aes128-gcm@openssh.com` });
      closables.push(streams);
      process.env['GIT_SSH_COMMAND'] = streams.sshCommand!;
      url = (repo) => sshd.url(`${root.path}/${repo}.git`);
      plainUrl = (repo) => `${root.path}/${repo}.git`;
      // A session's start (~0.4 s on a quiet 2-core machine, several times that under load) is
      // silence to the idle timer.
      idleTimeoutMillis = SLOW_START_IDLE_TIMEOUT_MILLIS;
    } else if (carrier === 'git') {
      const daemon = await startGitDaemon({ root: root.path });
      closables.push(daemon);
      streams = await startStreamFaults({ engine });
      closables.push(streams);
      const proxy = await streams.daemonProxy(daemon.port);
      closables.push(proxy);
      url = (repo) => proxy.url(repo);
    } else {
      streams = await startStreamFaults({ engine });
      closables.push(streams);
      // The local transport and the test helpers run `git` from PATH (src/transport/local.ts).
      process.env['PATH'] = `${streams.binDir}:${process.env['PATH']}`;
      if (carrier === 'helper') {
        const helpers = await installTestRemoteHelpers();
        process.env['PATH'] = `${helpers.binDir}:${process.env['PATH']}`;
        url = (repo) => `testproto://${root.path}/${repo}.git`;
        plainUrl = (repo) => `${root.path}/${repo}.git`;
        // The helper, then the fault wrapper behind its git service, start before the first byte.
        idleTimeoutMillis = SLOW_START_IDLE_TIMEOUT_MILLIS;
      } else {
        url = (repo) => `${root.path}/${repo}.git`;
      }
    }
    await buildTemplates(root.path);
    return {
      close,
      env: {
        carrier,
        engine,
        root: root.path,
        url,
        plainUrl,
        idleTimeoutMillis,
        openConnections: (repos) => streams.openConversations(repos),
        idle: (repos) => streams.idle(repos),
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}
