import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import {
  DEFAULT_FIELD_MANAGER,
  ISTIO_NETWORKING_GROUP,
  ISTIO_NETWORKING_VERSION,
  WORKLOAD_GROUP_PLURAL,
} from '../constants.ts';
import { type BootstrapGroup, toBootstrapGroup } from '../domain/bootstrap.ts';
import type { Deadline } from './deadline.ts';
import { KubernetesError } from './errors.ts';
import { type KubeConfigSource, KubeWorkloads } from './kube.ts';

export interface KubeBootstrapOptions {
  readonly requestTimeoutMs: number;
  /** Attempts per call for retriable failures (429, 5xx, resets, timeouts). @default 5 */
  readonly maxAttempts?: number;
}

/** A token as the TokenRequest API answered it. */
export interface IssuedToken {
  readonly token: string;
  /** `status.expirationTimestamp`: the lifetime the server granted, which may be shorter than asked. */
  readonly expiresAt: Date;
}

/**
 * The Kubernetes calls of the VM bootstrap: a WorkloadGroup, the two ConfigMaps it renders from,
 * and TokenRequest for the group's service account. Every call goes through the registrar's client
 * (`KubeWorkloads.callApi`: same retries, per-attempt timeout, deadline and cancellation); makes no
 * decisions, writes nothing but tokens.
 */
export class KubeBootstrap {
  readonly #kube: KubeWorkloads;

  /** Over an existing client (shares its connection pool and API clients). */
  constructor(kube: KubeWorkloads) {
    this.#kube = kube;
  }

  /** A client of its own for the cluster `source` points at. */
  static connect(source: KubeConfigSource, options: KubeBootstrapOptions): KubeBootstrap {
    return new KubeBootstrap(
      new KubeWorkloads(source, {
        fieldManager: DEFAULT_FIELD_MANAGER,
        requestTimeoutMs: options.requestTimeoutMs,
        ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
      }),
    );
  }

  /** The same client bound to one invocation's deadline. */
  withDeadline(deadline: Deadline): KubeBootstrap {
    return new KubeBootstrap(this.#kube.withDeadline(deadline));
  }

  /** The WorkloadGroup with its probe, or undefined when it does not exist. */
  async getWorkloadGroup(namespace: string, name: string): Promise<BootstrapGroup | undefined> {
    try {
      const raw = await this.#kube.callApi(
        CustomObjectsApi,
        `get WorkloadGroup ${namespace}/${name}`,
        (custom, options) =>
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
      const map = await this.#kube.callApi(CoreV1Api, `get ConfigMap ${namespace}/${name}`, (core, options) =>
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
    const answer = await this.#kube.callApi(
      CoreV1Api,
      `create token for ServiceAccount ${namespace}/${serviceAccount}`,
      (core, options) =>
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
