/**
 * Stands in for the `undici` package inside the Lambda bundles (esbuild alias, see bundling.ts).
 *
 * @kubernetes/client-node imports `fetch`, `Agent` and `ProxyAgent` from undici, which adds about
 * 0.7 MB to every bundle although Node 24 ships fetch built in. It also builds a new undici Agent
 * for every request when the cluster has a CA, so each Kubernetes call paid a fresh TLS handshake.
 * Here a request whose dispatcher carries a CA goes out through node:https with one keep-alive
 * agent per CA bundle (a pool per cluster), and that CA is trusted by that agent only: the AWS SDK
 * clients in the same process keep the default trust store, so a cluster CA can never vouch for
 * an AWS endpoint. Other requests (plain http) use Node's global fetch. What the registrar never
 * uses in Lambda (client certificates, skipping TLS verification, proxies) fails loudly instead of
 * being ignored.
 */
import https from 'node:https';
import { Readable } from 'node:stream';

interface ConnectOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** One keep-alive pool per CA bundle; client-node builds an Agent per request, we do not. */
const pools = new Map<string, https.Agent>();

/** The https agent that trusts exactly `ca` (and not the process's defaults for anything else). */
export function poolFor(ca: ConnectOptions['ca']): https.Agent {
  const pems = (Array.isArray(ca) ? ca : [ca]).filter(Boolean).map((c) => c!.toString());
  const key = pems.join('\n');
  let pool = pools.get(key);
  if (!pool) {
    pool = new https.Agent({ keepAlive: true, ca: pems });
    pools.set(key, pool);
  }
  return pool;
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
    this.pool = connect.ca ? poolFor(connect.ca) : undefined;
  }

  /** The https agent trusting the cluster CA, when one was given. */
  readonly pool: https.Agent | undefined;
}

export class ProxyAgent {
  constructor() {
    throw new Error('a kubeconfig proxy-url is not supported in the Lambda bundle');
  }
}

/**
 * client-node's fetch: through the dispatcher's own https agent when it has a CA, else Node's
 * global fetch (the dispatcher dropped). Headers arrive as a plain object, bodies as text.
 */
export function fetch(
  input: string | URL | Request,
  init: RequestInit & { dispatcher?: unknown } = {},
): Promise<Response> {
  const { dispatcher, ...rest } = init;
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (dispatcher instanceof Agent && url.startsWith('https:')) {
    if (dispatcher.insecure) {
      return Promise.reject(
        new Error('insecure-skip-tls-verify is not supported in the Lambda bundle: give the cluster CA'),
      );
    }
    if (dispatcher.pool) return httpsFetch(new URL(url), rest, dispatcher.pool);
  }
  return globalThis.fetch(input, rest);
}

function httpsFetch(url: URL, init: RequestInit, agent: https.Agent): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const method = init.method ?? 'GET';
    const request = https.request(
      url,
      { method, headers, agent, ...(init.signal ? { signal: init.signal } : {}) },
      (response) => {
        const out = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value])
            out.append(name, v);
        }
        const status = response.statusCode ?? 502;
        const empty = method === 'HEAD' || status === 204 || status === 304;
        if (empty) response.resume();
        resolve(
          new Response(empty ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>), {
            status,
            statusText: response.statusMessage ?? '',
            headers: out,
          }),
        );
      },
    );
    request.on('error', reject);
    const body = init.body;
    if (body === undefined || body === null) request.end();
    else if (typeof body === 'string' || body instanceof Uint8Array) request.end(body);
    else if (body instanceof URLSearchParams) request.end(body.toString());
    else {
      request.destroy();
      reject(new Error('the Lambda bundle sends only text or bytes to the Kubernetes API'));
    }
  });
}
