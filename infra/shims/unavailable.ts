/**
 * Stands in, inside the Lambda bundles only, for packages @kubernetes/client-node imports for
 * features the functions never use: SOCKS and HTTP proxies (`socks`, `socks-proxy-agent`,
 * `hpagent`), OIDC/Azure/GCP kubeconfig auth (`openid-client`, `jsonpath-plus`), `kubectl cp`
 * (`tar-fs`) and exec/attach/port-forward websockets (`isomorphic-ws`). About 0.27 MB less to load
 * at every cold start. Each export throws a clear error if a kubeconfig ever asks for one of them;
 * the CLI, which runs from source, keeps the real packages.
 */
function unavailable(feature: string): never {
  throw new Error(`${feature} is not available in the Lambda bundle (use EKS token auth without a proxy)`);
}

class Unavailable {
  constructor() {
    unavailable(`${new.target.name} (kubeconfig proxy)`);
  }
}

export class SocksProxyAgent extends Unavailable {}
export class HttpProxyAgent extends Unavailable {}
export class HttpsProxyAgent extends Unavailable {}
export const SocksClient = {
  createConnection: () => unavailable('a SOCKS proxy'),
};
export function JSONPath(): never {
  return unavailable('Azure/GCP kubeconfig auth');
}
export function discovery(): never {
  return unavailable('OIDC kubeconfig auth');
}
export function refreshTokenGrant(): never {
  return unavailable('OIDC kubeconfig auth');
}

/** Default export of `tar-fs` and `isomorphic-ws`: any use fails. */
export default new Proxy(
  {},
  {
    get: (_target, property) =>
      property === 'then' ? undefined : unavailable(`websocket/tar (${String(property)}) support`),
    construct: () => unavailable('websocket support'),
  },
);
