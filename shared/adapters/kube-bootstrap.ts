import { type ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { ISTIO_NETWORKING_GROUP, ISTIO_NETWORKING_VERSION, WORKLOAD_GROUP_PLURAL } from '../constants.ts';
import { type BootstrapGroup, toBootstrapGroup } from '../domain/bootstrap.ts';
import { Deadline } from './deadline.ts';
import { KubernetesError } from './errors.ts';
import { type CallOptions, type KubeConfigSource, retryAfterWait, toKubeError, withSignal } from './kube.ts';

export interface KubeBootstrapOptions {
  readonly requestTimeoutMs: number;
  /** Attempts per call for retriable failures (429, 5xx, resets, timeouts). */
  readonly maxAttempts?: number;
  readonly backoffBaseMs?: number;
}

/** A token as the TokenRequest API answered it. */
export interface IssuedToken {
  readonly token: string;
  /** `status.expirationTimestamp`: the lifetime the server granted, which may be shorter than asked. */
  readonly expiresAt: Date;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The Kubernetes calls of the VM bootstrap: a WorkloadGroup, the two ConfigMaps it renders from,
 * and TokenRequest for the group's service account. Same retries, per-attempt timeout and
 * cancellation as the registrar's client (kube.ts); makes no decisions.
 */
export class KubeBootstrap {
  readonly #source: KubeConfigSource;
  readonly #options: Required<KubeBootstrapOptions>;
  readonly #deadline: Deadline;
  #clients?: { config: KubeConfig; core: CoreV1Api; custom: CustomObjectsApi };

  constructor(source: KubeConfigSource, options: KubeBootstrapOptions, deadline = Deadline.none()) {
    this.#source = source;
    this.#options = { maxAttempts: 4, backoffBaseMs: 50, ...options };
    this.#deadline = deadline;
  }

  /** The same client bound to one invocation's deadline. */
  withDeadline(deadline: Deadline): KubeBootstrap {
    return new KubeBootstrap(this.#source, this.#options, deadline);
  }

  async #api() {
    const config = await this.#source();
    if (this.#clients?.config !== config) {
      this.#clients = {
        config,
        core: config.makeApiClient(CoreV1Api),
        custom: config.makeApiClient(CustomObjectsApi),
      };
    }
    return this.#clients;
  }

  async #call<T>(
    what: string,
    fn: (api: { core: CoreV1Api; custom: CustomObjectsApi }, options: CallOptions) => Promise<T>,
  ): Promise<T> {
    const { maxAttempts, backoffBaseMs, requestTimeoutMs } = this.#options;
    const deadline = this.#deadline;
    for (let attempt = 1; ; attempt++) {
      if (deadline.remaining() <= 0)
        throw new KubernetesError(`${what}: no time left in this invocation`, { retriable: true });
      const signal = deadline.attempt(requestTimeoutMs);
      try {
        return await fn(await this.#api(), withSignal(signal));
      } catch (raw) {
        const error = signal.aborted
          ? new KubernetesError(`${what}: timed out (request cancelled)`, { retriable: true })
          : toKubeError(raw, what);
        if (!error.retriable || attempt >= maxAttempts || error.status === 409) throw error;
        const retryAfter = Number((raw as ApiException<unknown>)?.headers?.['retry-after']);
        const backoff = Math.random() * backoffBaseMs * 2 ** (attempt - 1);
        const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfterWait(retryAfter) : backoff;
        if (wait >= deadline.remaining()) throw error;
        await sleep(wait);
      }
    }
  }

  /** The WorkloadGroup with its probe, or undefined when it does not exist. */
  async getWorkloadGroup(namespace: string, name: string): Promise<BootstrapGroup | undefined> {
    try {
      const raw = await this.#call(`get WorkloadGroup ${namespace}/${name}`, ({ custom }, options) =>
        custom.getNamespacedCustomObject(
          {
            group: ISTIO_NETWORKING_GROUP,
            version: ISTIO_NETWORKING_VERSION,
            namespace,
            plural: WORKLOAD_GROUP_PLURAL,
            name,
          },
          options,
        ),
      );
      return toBootstrapGroup(raw as Parameters<typeof toBootstrapGroup>[0]);
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** A ConfigMap's `data`, or undefined when the ConfigMap does not exist. */
  async getConfigMapData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    try {
      const map = await this.#call(`get ConfigMap ${namespace}/${name}`, ({ core }, options) =>
        core.readNamespacedConfigMap({ namespace, name }, options),
      );
      return map.data ?? {};
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * A token for the service account (TokenRequest, `serviceaccounts/token`). Errors name the
   * account, never carry the token.
   */
  async createToken(
    namespace: string,
    serviceAccount: string,
    request: { readonly audience: string; readonly expirationSeconds: number },
  ): Promise<IssuedToken> {
    const answer = await this.#call(
      `create token for ServiceAccount ${namespace}/${serviceAccount}`,
      ({ core }, options) =>
        core.createNamespacedServiceAccountToken(
          {
            namespace,
            name: serviceAccount,
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              spec: { audiences: [request.audience], expirationSeconds: request.expirationSeconds },
            },
          },
          options,
        ),
    );
    const token = answer.status?.token;
    const expiresAt = answer.status?.expirationTimestamp;
    if (!token || !(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
      throw new KubernetesError(
        `create token for ServiceAccount ${namespace}/${serviceAccount}: the answer has no token or expiry`,
        { retriable: false },
      );
    }
    return { token, expiresAt };
  }
}
