import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { Agent, fetch, ProxyAgent } from '../../../infra/shims/undici.ts';
import { FIXTURES } from '../../helpers/fixtures.ts';

const CLUSTER_CA = readFileSync(join(FIXTURES, 'tls', 'server.crt'), 'utf8');
const KEY = readFileSync(join(FIXTURES, 'tls', 'server.key'), 'utf8');

/** An HTTPS server with the test certificate, standing in for an API server behind a cluster CA. */
async function clusterServer() {
  let connections = 0;
  const server = createHttpsServer({ cert: CLUSTER_CA, key: KEY }, (req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (req.url === '/slow') return setTimeout(() => res.end('late'), 2_000);
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('X-Seen-Auth', req.headers.authorization ?? '');
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end(JSON.stringify({ method: req.method, body }));
    });
  });
  server.on('secureConnection', () => connections++);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

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

  it('talks to the cluster through one pooled connection that trusts the cluster CA', async () => {
    // Prepare
    const server = await clusterServer();
    try {
      // Act: client-node builds a new Agent for every request.
      const call = (path: string, init: RequestInit = {}) =>
        fetch(`${server.url}${path}`, {
          ...init,
          headers: { Authorization: 'Bearer t0ken', 'Content-Type': 'application/json' },
          dispatcher: new Agent({ connect: { ca: CLUSTER_CA } }) as never,
        });
      const get = await call('/apis');
      const got = await get.json();
      const patched = await (await call('/apis/x', { method: 'PATCH', body: '{"a":1}' })).json();
      const missing = await call('/missing');
      await missing.text();

      // Assess
      expect(get.status).toBe(200);
      expect(get.headers.get('x-seen-auth')).toBe('Bearer t0ken');
      expect(got).toEqual({ method: 'GET', body: '' });
      expect(patched).toEqual({ method: 'PATCH', body: '{"a":1}' });
      expect(missing.status).toBe(404);
      expect(server.connections()).toBe(1);
    } finally {
      server.close();
    }
  });

  it('trusts the cluster CA for the Kubernetes client only, never process-wide', async () => {
    // Prepare
    const server = await clusterServer();
    try {
      // Act
      await fetch(`${server.url}/`, { dispatcher: new Agent({ connect: { ca: CLUSTER_CA } }) as never });
      const plainFetch = globalThis.fetch(`${server.url}/`);
      const plainHttps = new Promise((resolve, reject) =>
        httpsGet(`${server.url}/`, resolve).on('error', reject),
      );

      // Assess: any other TLS client in the process (the AWS SDK's) still refuses that CA.
      await expect(plainFetch).rejects.toThrow();
      await expect(plainHttps).rejects.toThrow(/self[- ]signed/);
      expect(tls.getCACertificates('default')).not.toContain(CLUSTER_CA);
    } finally {
      server.close();
    }
  });

  it('cancels a request when its signal aborts', async () => {
    // Prepare
    const server = await clusterServer();
    try {
      // Act
      const started = Date.now();
      const slow = fetch(`${server.url}/slow`, {
        signal: AbortSignal.timeout(100),
        dispatcher: new Agent({ connect: { ca: CLUSTER_CA } }) as never,
      });

      // Assess
      await expect(slow).rejects.toThrow(/abort/i);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      server.close();
    }
  });
});
