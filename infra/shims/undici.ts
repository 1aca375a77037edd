/**
 * Stands in for the `undici` package inside the Lambda bundles (esbuild alias, see bundling.ts).
 *
 * @kubernetes/client-node imports `fetch`, `Agent` and `ProxyAgent` from undici, which adds about
 * 0.7 MB to every bundle although Node 24 ships the same fetch built in. It also builds a new
 * undici Agent for every request when the cluster has a CA, so each Kubernetes call paid a fresh
 * TLS handshake. Here `fetch` is Node's global fetch (one keep-alive connection pool per process)
 * and the cluster CA is added to the process's default trust store once, which is what a Lambda
 * that talks to one cluster needs. What the registrar never uses in Lambda (client certificates,
 * skipping TLS verification, proxies) fails loudly instead of being ignored.
 */
import tls from 'node:tls';

interface ConnectOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  rejectUnauthorized?: boolean;
  servername?: string;
}

const trusted = new Set<string>();

/** Adds PEM certificates to the default CA list used by every TLS client in the process. */
export function trustCertificates(ca: ConnectOptions['ca']): void {
  const pems = (Array.isArray(ca) ? ca : [ca]).filter(Boolean).map((c) => c!.toString());
  const fresh = pems.filter((pem) => !trusted.has(pem));
  if (fresh.length === 0) return;
  for (const pem of fresh) trusted.add(pem);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...fresh]);
}

export class Agent {
  /** Set by insecure-skip-tls-verify: harmless for plain http, refused for https (see fetch). */
  readonly insecure: boolean;
  constructor(options: { connect?: ConnectOptions } = {}) {
    const connect = options.connect ?? {};
    if (connect.cert || connect.key || connect.pfx) {
      throw new Error(
        'client certificate authentication is not supported in the Lambda bundle: use EKS token auth',
      );
    }
    if (connect.servername) {
      throw new Error('tls-server-name is not supported in the Lambda bundle');
    }
    this.insecure = connect.rejectUnauthorized === false;
    if (connect.ca) trustCertificates(connect.ca);
  }
}

export class ProxyAgent {
  constructor() {
    throw new Error('a kubeconfig proxy-url is not supported in the Lambda bundle');
  }
}

/** Node's global fetch; the per-request dispatcher is dropped (see above). */
export function fetch(input: string | URL | Request, init: RequestInit & { dispatcher?: unknown } = {}) {
  const { dispatcher, ...rest } = init;
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (dispatcher instanceof Agent && dispatcher.insecure && url.startsWith('https:')) {
    return Promise.reject(
      new Error('insecure-skip-tls-verify is not supported in the Lambda bundle: give the cluster CA'),
    );
  }
  return globalThis.fetch(input, rest);
}
