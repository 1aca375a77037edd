import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { Agent, fetch, ProxyAgent, trustCertificates } from '../../../infra/shims/undici.ts';

// A syntactically valid self-signed CA (generated once for this test; never used for anything else).
const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIUP0I4c5kq5c1n0n6w9YvEf8gHk3swCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGdGVzdGNhMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAw
MFowETEPMA0GA1UEAwwGdGVzdGNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
-----END CERTIFICATE-----`;

describe('Shim: undici in the Lambda bundle', () => {
  it('fetch is the global fetch and ignores the per-request dispatcher', async () => {
    const server = createServer((_req, res) => res.end('pong')).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`, {
        dispatcher: new Agent({ connect: {} }) as never,
      });
      expect(await response.text()).toBe('pong');
    } finally {
      server.close();
    }
  });

  it('refuses what it cannot honour, loudly', async () => {
    expect(() => new Agent({ connect: { cert: 'x', key: 'y' } })).toThrow(/client certificate/);
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    await expect(fetch('https://127.0.0.1:1/', { dispatcher: insecure as never })).rejects.toThrow(
      /insecure-skip-tls-verify/,
    );
    expect(() => new ProxyAgent()).toThrow(/proxy-url/);
  });

  it('adds a cluster CA to the default trust store once', () => {
    const calls: Array<ReadonlyArray<unknown>> = [];
    const original = tls.setDefaultCACertificates;
    tls.setDefaultCACertificates = (certs) => {
      calls.push(certs);
    };
    try {
      trustCertificates(TEST_CA);
      trustCertificates(Buffer.from(TEST_CA));
      new Agent({ connect: { ca: TEST_CA } });
    } finally {
      tls.setDefaultCACertificates = original;
    }
    expect(calls).toHaveLength(1);
    expect(calls[0]).toContain(TEST_CA);
    expect(calls[0]!.length).toBeGreaterThan(1);
  });
});
