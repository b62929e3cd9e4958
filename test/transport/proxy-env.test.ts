import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GitSyncError } from '../../src/errors.js';
import { bypassesProxy, proxyFor } from '../../src/transport/proxy-env.js';

function bypass(url: string, noProxy: string): boolean {
  return bypassesProxy(new URL(url), noProxy);
}

describe('proxy selection from the environment', () => {
  it('picks https_proxy / HTTPS_PROXY for https, http_proxy / HTTP_PROXY for http, then ALL_PROXY', () => {
    const env = { HTTPS_PROXY: 'http://secure:1', HTTP_PROXY: 'http://plain:2', ALL_PROXY: 'http://any:3' };
    assert.equal(proxyFor(new URL('https://h/r.git'), env)?.host, 'secure:1');
    assert.equal(proxyFor(new URL('http://h/r.git'), env)?.host, 'plain:2');
    assert.equal(proxyFor(new URL('http://h/r.git'), { ALL_PROXY: 'http://any:3' })?.host, 'any:3');
    assert.equal(proxyFor(new URL('https://h/r.git'), { https_proxy: 'http://lower:4', HTTPS_PROXY: 'http://upper:5' })?.host, 'lower:4');
    assert.equal(proxyFor(new URL('https://h/r.git'), { HTTP_PROXY: 'http://plain:2' }), null, 'an http proxy is not used for https');
    assert.equal(proxyFor(new URL('https://h/r.git'), { HTTPS_PROXY: '' }), null);
    assert.equal(proxyFor(new URL('https://h/r.git'), {}), null);
  });

  it('reads a proxy without a scheme as http://, and refuses other schemes', () => {
    assert.equal(proxyFor(new URL('https://h/r.git'), { HTTPS_PROXY: 'proxy.corp:3128' })?.href, 'http://proxy.corp:3128/');
    assert.throws(() => proxyFor(new URL('https://h/r.git'), { HTTPS_PROXY: 'socks5://proxy:1080' }), (error: GitSyncError) => error.code === 'UNSUPPORTED');
  });

  it('leaves hosts in NO_PROXY alone', () => {
    assert.equal(proxyFor(new URL('https://git.corp.example/r.git'), { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'corp.example' }), null);
    assert.equal(proxyFor(new URL('https://git.corp.example/r.git'), { HTTPS_PROXY: 'http://p:1', no_proxy: 'other', NO_PROXY: 'corp.example' })?.host, 'p:1', 'no_proxy wins over NO_PROXY');
  });
});

describe('NO_PROXY matching (as curl does)', () => {
  it('matches a name and its subdomains, with or without a leading dot or *.', () => {
    for (const entry of ['example.com', '.example.com', '*.example.com', 'EXAMPLE.com.']) {
      assert.equal(bypass('https://example.com/r', entry), true, entry);
      assert.equal(bypass('https://git.example.com/r', entry), true, entry);
      assert.equal(bypass('https://notexample.com/r', entry), false, entry);
    }
  });

  it('matches * alone, in a comma- or space-separated list', () => {
    assert.equal(bypass('https://anything/r', '*'), true);
    assert.equal(bypass('https://b.test/r', 'a.test, b.test'), true);
    assert.equal(bypass('https://b.test/r', 'a.test b.test'), true);
    assert.equal(bypass('https://c.test/r', 'a.test,,b.test'), false);
    assert.equal(bypass('https://c.test/r', '*.c'), false, '* only counts alone');
  });

  it('matches IP addresses exactly, or by CIDR prefix; never as a domain suffix', () => {
    assert.equal(bypass('http://127.0.0.1:8080/r', '127.0.0.1'), true);
    assert.equal(bypass('http://127.0.0.2:8080/r', '127.0.0.1'), false);
    assert.equal(bypass('http://127.0.0.2:8080/r', '0.0.2'), false);
    assert.equal(bypass('http://127.0.0.2:8080/r', '127.0.0.0/8'), true);
    assert.equal(bypass('http://10.1.2.3/r', '10.0.0.0/16'), false);
    assert.equal(bypass('http://[::1]:8080/r', '::1'), true);
    assert.equal(bypass('http://[fd00::5]/r', 'fd00::/8'), true);
  });

  it('honours a port when the entry names one', () => {
    assert.equal(bypass('http://127.0.0.1:8080/r', '127.0.0.1:8080'), true);
    assert.equal(bypass('http://127.0.0.1:9090/r', '127.0.0.1:8080'), false);
    assert.equal(bypass('https://git.example.com/r', 'example.com:443'), true, 'the scheme default port counts');
    assert.equal(bypass('http://[::1]:8080/r', '[::1]:8080'), true);
  });

  it('gives loopback no special treatment: 127.0.0.1 is proxied unless listed', () => {
    assert.equal(bypass('http://127.0.0.1:8080/r', ''), false);
    assert.equal(bypass('http://localhost:8080/r', 'localhost'), true);
  });
});
