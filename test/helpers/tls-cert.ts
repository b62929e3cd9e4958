/**
 * A throwaway self-signed certificate for loopback HTTPS servers, made with the `openssl` CLI
 * at test time: valid for one day, for the addresses asked (127.0.0.1 by default), and usable
 * as its own CA (`NODE_EXTRA_CA_CERTS=<certPath>`).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './git.js';

export interface SelfSignedCert {
  key: string;
  cert: string;
  /** The certificate as a PEM file, e.g. for NODE_EXTRA_CA_CERTS. */
  certPath: string;
  remove(): Promise<void>;
}

export function selfSignedCert(addresses: readonly string[] = ['127.0.0.1']): SelfSignedCert {
  const dir = makeTempDir('gitsync-tls-');
  const keyPath = path.join(dir.path, 'key.pem');
  const certPath = path.join(dir.path, 'cert.pem');
  const san = addresses.map((address) => (/^[\d.]+$|:/.test(address) ? `IP:${address}` : `DNS:${address}`)).join(',');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', keyPath, '-out', certPath,
    '-subj', '/CN=git-sync test',
    '-addext', `subjectAltName=${san}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
  ], { stdio: 'ignore' });
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath, remove: () => dir.remove() };
}
