/**
 * Fuzz properties of the endpoint grammar (docs/testing.md, "Fuzzing"): any string parses to an
 * endpoint or fails with a UsageError (never a URIError or a TypeError), whose identity can
 * always be computed and whose display never shows a password; URLs and scp-like locations built
 * from random parts parse back into those parts, and spellings of one remote share one identity.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { endpointIdentity, parseEndpoint, type Endpoint } from '../../src/transport/endpoint.js';
import { fuzzParameters, settle } from '../helpers/fuzz.js';

const CWD = '/srv/work';

/** Pieces of locations: schemes, separators, escapes (good and broken), brackets, ports. */
const pieceArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('https://', 'http://', 'ssh://', 'git://', 'git+ssh://', 'file://', 'foo://', 'HTTPS://', 'ssh+git://') },
  { weight: 6, arbitrary: fc.constantFrom('host', 'user', '@', ':', '/', '//', '[', ']', '::1', ':22', ':0', ':99999', '~', '.', '..', '.git', '-o', ' ', 'C:\\', '\\', '?', '#') },
  { weight: 3, arbitrary: fc.constantFrom('%', '%2', '%zz', '%20', '%E0', '%ff', '%C3%A9', '%00', '%2F') },
  { weight: 2, arbitrary: fc.string({ maxLength: 6 }) },
);

const locationArb = fc.oneof(
  fc.array(pieceArb, { maxLength: 10 }).map((p) => p.join('')),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);

const hostArb = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((ip) => `[${ip}]`));
const userArb = fc.stringMatching(/^[a-z][a-z0-9._]{0,8}$/);
const segmentArb = fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,10}$/).filter((s) => s !== '.' && s !== '..');
const pathArb = fc.array(segmentArb, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')).filter((p) => !p.endsWith('.git'));

function identityOf(endpoint: Endpoint): string {
  const identity = endpointIdentity(endpoint);
  assert.equal(typeof identity, 'string');
  return identity;
}

describe('endpoint grammar (fuzz)', () => {
  it('parses any string to an endpoint or a UsageError, with an identity and a display that hides passwords', async () => {
    await fc.assert(
      fc.asyncProperty(locationArb, async (location) => {
        const outcome = await settle(['USAGE'], () => parseEndpoint(location, CWD));
        if (!outcome.ok) return;
        const endpoint = outcome.value;
        identityOf(endpoint);
        if (endpoint.kind === 'http' && endpoint.password !== null && endpoint.password.length > 1) {
          assert.ok(!endpoint.display.includes(`:${endpoint.password}@`), 'the display hides the password');
        }
      }),
      fuzzParameters(3000),
    );
  });

  it('reads URLs and scp-like locations built from parts back into those parts', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('ssh', 'git+ssh', 'git', 'scp'),
        fc.option(userArb, { nil: null }),
        hostArb,
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
        pathArb,
        (scheme, user, host, port, repoPath) => {
          const bareHost = host.replace(/^\[(.*)\]$/, '$1');
          if (scheme === 'scp') {
            // scp-like: `[user@]host:path`, or `[user@host:port]:path` with a port.
            const location = port === null ? `${user === null ? '' : `${user}@`}${host}:${repoPath}` : `[${user === null ? '' : `${user}@`}${bareHost}:${port}]:${repoPath}`;
            const endpoint = parseEndpoint(location, CWD);
            assert.equal(endpoint.kind, 'ssh', location);
            if (endpoint.kind !== 'ssh') return;
            if (bareHost.includes(':') && port !== null) return; // an IPv6 host with a port has no scp-like spelling
            assert.equal(endpoint.host, bareHost, location);
            assert.equal(endpoint.user, user, location);
            assert.equal(endpoint.port, port, location);
            assert.equal(endpoint.path, repoPath, location);
            return;
          }
          const location = `${scheme}://${user === null || scheme === 'git' ? '' : `${user}@`}${host}${port === null ? '' : `:${port}`}/${repoPath}`;
          const endpoint = parseEndpoint(location, CWD);
          assert.equal(endpoint.kind, scheme === 'git' ? 'git' : 'ssh', location);
          if (endpoint.kind !== 'ssh' && endpoint.kind !== 'git') return;
          assert.equal(endpoint.host, bareHost, location);
          assert.equal(endpoint.port, port, location);
          assert.equal(endpoint.path, `/${repoPath}`, location);
          if (endpoint.kind === 'ssh') assert.equal(endpoint.user, user, location);
        },
      ),
      fuzzParameters(1000),
    );
  });

  it('gives one identity to spellings of one remote: credentials, default port, case, trailing .git and slashes', () => {
    fc.assert(
      fc.property(fc.constantFrom('https', 'http'), fc.domain(), pathArb, userArb, fc.stringMatching(/^[a-zA-Z0-9]{1,10}$/).map((p) => `Zq9${p}`), (scheme, host, repoPath, user, password) => {
        const plain = `${scheme}://${host}/${repoPath}`;
        const port = scheme === 'https' ? 443 : 80;
        const spellings = [`${scheme}://${user}:${password}@${host.toUpperCase()}:${port}/${repoPath}.git/`, `${scheme.toUpperCase()}://${host}/${repoPath}//`, `${scheme}://${user}@${host}/./${repoPath}`];
        const expected = identityOf(parseEndpoint(plain, CWD));
        for (const spelling of spellings) {
          const endpoint = parseEndpoint(spelling, CWD);
          assert.equal(identityOf(endpoint), expected, spelling);
          assert.ok(!endpoint.display.includes(password), `${spelling} shows its password`);
        }
      }),
      fuzzParameters(1000),
    );
  });
});
