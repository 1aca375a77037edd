import { KubeConfig } from '@kubernetes/client-node';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

/**
 * A KubeConfig whose requests share one connection pool. client-node 2.0 builds a new undici Agent
 * for every request when the cluster has TLS options (a CA, or skip-verify), so every Kubernetes
 * call opened a new connection and paid a new TLS handshake. One config here stands for one cluster
 * and one user, so the first dispatcher built serves every later request.
 */
export class PooledKubeConfig extends KubeConfig {
  #dispatcher: unknown;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const built = context.getDispatcher();
    if (built === undefined) return;
    this.#dispatcher ??= built;
    context.setDispatcher(this.#dispatcher as typeof built);
  }
}
