import {
  type ApiConstructor,
  ApiException,
  type ApiType,
  CustomObjectsApi,
  type KubeConfig,
  Observable,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { IWorkloadGroup } from '@kubernetes-models/istio/networking.istio.io/v1/WorkloadGroup';
import {
  INSTANCE_ID_LABEL,
  ISTIO_NETWORKING_GROUP,
  ISTIO_NETWORKING_VERSION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  WORKLOAD_ENTRY_PLURAL,
  WORKLOAD_GROUP_PLURAL,
} from '../constants.ts';
import type { WorkloadEntryObject, WorkloadGroupProbe, WorkloadGroupView } from '../domain/types.ts';
import { Deadline } from './deadline.ts';
import { KubernetesError } from './errors.ts';

/** Supplies a KubeConfig that is currently valid (EKS tokens expire; see eks-auth.ts). */
export type KubeConfigSource = () => Promise<KubeConfig>;

export interface KubeOptions {
  readonly fieldManager: string;
  readonly requestTimeoutMs: number;
  /** Attempts per call for retriable failures (429, 5xx, resets, timeouts). */
  readonly maxAttempts?: number;
  /** Base delay for exponential backoff with full jitter. */
  readonly backoffBaseMs?: number;
  /** Called after every retried failure, for metrics. */
  readonly onRetry?: (error: KubernetesError, attempt: number) => void;
  /** Called after every call (all its attempts) with its verb and duration, for metrics. */
  readonly onCall?: (operation: string, ms: number) => void;
}

type CallOptions = NonNullable<Parameters<CustomObjectsApi['getNamespacedCustomObject']>[1]>;
type CallMiddleware = NonNullable<CallOptions['middleware']>[number];

/**
 * Request options that cancel the request itself (client-node hands the signal to fetch): a
 * timed-out attempt must not land on the server after we gave up on it and moved on.
 */
function withSignal(signal: AbortSignal, options?: CallOptions): CallOptions {
  const cancel: CallMiddleware = {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return {
    ...options,
    middleware: [...(options?.middleware ?? []), cancel],
    middlewareMergeStrategy: 'append',
  };
}

/** Full jitter on a server's Retry-After, so throttled callers do not come back in step. */
export function retryAfterWait(retryAfterSeconds: number, capMs = 5000): number {
  const base = Math.min(retryAfterSeconds * 1000, capMs);
  return base + Math.random() * Math.min(base, 1000);
}

/**
 * The wait before the attempt after `attempt`: the server's Retry-After when it sent one (with
 * jitter, see {@link retryAfterWait}), otherwise exponential backoff with full jitter (anywhere
 * between 0 and `baseMs * 2^(attempt-1)`), so that callers failed together do not retry together.
 */
export function retryDelay(attempt: number, baseMs: number, retryAfterSeconds?: number): number {
  if (retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0) {
    return retryAfterWait(retryAfterSeconds);
  }
  return Math.random() * baseMs * 2 ** (attempt - 1);
}

export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/** Attempts of a write that keeps meeting conflicts (each after a fresh read) before the record is retried. */
export const CONFLICT_ATTEMPTS = 3;

interface KubeStatusBody {
  reason?: string;
  message?: string;
}

function toKubeError(error: unknown, what: string): KubernetesError {
  if (error instanceof KubernetesError) return error;
  if (error instanceof ApiException) {
    let body: KubeStatusBody = {};
    try {
      body = (typeof error.body === 'string' ? JSON.parse(error.body) : error.body) as KubeStatusBody;
    } catch {
      // Not a Status object (a proxy's HTML page, say): keep the raw text in the message.
      body = { message: String(error.body).slice(0, 200) };
    }
    const status = error.code;
    return new KubernetesError(`${what}: ${status} ${body.reason ?? ''} ${body.message ?? ''}`.trim(), {
      retriable: status === 429 || status >= 500 || status === 409,
      status,
      ...(body.reason ? { reason: body.reason } : {}),
      cause: error,
    });
  }
  // Connection refused/reset, DNS, TLS, timeouts: the request may not have reached the server.
  const message =
    error instanceof Error
      ? `${error.message}${error.cause ? ` (${String(error.cause)})` : ''}`
      : String(error);
  return new KubernetesError(`${what}: ${message}`, { retriable: true, cause: error });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The Kubernetes side of the registrar: WorkloadGroups, WorkloadEntries. Retries transient failures
 * with backoff; makes no decisions about what to write.
 */
interface SharedClient {
  readonly source: KubeConfigSource;
  readonly options: Required<Omit<KubeOptions, 'onRetry' | 'onCall'>> &
    Pick<KubeOptions, 'onRetry' | 'onCall'>;
  api?: { config: KubeConfig; client: CustomObjectsApi };
  /** Typed API clients (core, discovery) made from the current config, one per class. */
  typed?: { config: KubeConfig; clients: Map<ApiConstructor<ApiType>, ApiType> };
}

export class KubeWorkloads {
  readonly #shared: SharedClient;
  readonly #deadline: Deadline;

  constructor(
    source: KubeConfigSource,
    options: KubeOptions,
    bound?: { readonly shared: SharedClient; readonly deadline: Deadline },
  ) {
    this.#shared = bound?.shared ?? { source, options: { maxAttempts: 5, backoffBaseMs: 50, ...options } };
    this.#deadline = bound?.deadline ?? Deadline.none();
  }

  /**
   * The same client bound to one invocation's deadline: every attempt is cut to fit and cancelled
   * (not merely raced) when it passes, so a slow API server fails records instead of timing the
   * invocation out and losing its partial-batch response, and nothing lands after it. Cheap: the
   * connection pool and the API client are shared.
   */
  withDeadline(deadline: Deadline): KubeWorkloads {
    return new KubeWorkloads(this.#shared.source, this.#shared.options, { shared: this.#shared, deadline });
  }

  async #client(): Promise<CustomObjectsApi> {
    const config = await this.#shared.source();
    if (this.#shared.api?.config !== config)
      this.#shared.api = { config, client: config.makeApiClient(CustomObjectsApi) };
    return this.#shared.api.client;
  }

  async #typed<A extends ApiType>(Api: ApiConstructor<A>): Promise<A> {
    const config = await this.#shared.source();
    if (this.#shared.typed?.config !== config) this.#shared.typed = { config, clients: new Map() };
    let client = this.#shared.typed.clients.get(Api as ApiConstructor<ApiType>) as A | undefined;
    if (!client) {
      client = config.makeApiClient(Api);
      this.#shared.typed.clients.set(Api as ApiConstructor<ApiType>, client);
    }
    return client;
  }

  /** The server-side apply field manager these calls write with. */
  get fieldManager(): string {
    return this.#shared.options.fieldManager;
  }

  /**
   * One call through a typed client-node API (`CoreV1Api`, `DiscoveryV1Api`...) with the same
   * retries, deadline and cancellation as every call here. For the adapters in this folder.
   * @internal
   */
  callApi<A extends ApiType, T>(
    Api: ApiConstructor<A>,
    what: string,
    fn: (api: A, options: CallOptions) => Promise<T>,
    extra?: CallOptions,
  ): Promise<T> {
    return this.#call(what, fn, extra, () => this.#typed(Api));
  }

  /** Server-side apply of a custom object, for the adapters in this folder. @internal */
  applyCustomObject<T>(
    plural: string,
    body: { metadata: { namespace: string; name: string } },
    force: boolean,
    kind: string,
  ): Promise<T> {
    const { namespace, name } = body.metadata;
    return this.#call(
      `apply ${kind} ${namespace}/${name}`,
      (api, options) =>
        api.patchNamespacedCustomObject(
          {
            group: ISTIO_NETWORKING_GROUP,
            version: ISTIO_NETWORKING_VERSION,
            namespace,
            plural,
            name,
            body,
            fieldManager: this.#shared.options.fieldManager,
            force,
          },
          options,
        ),
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    ) as Promise<T>;
  }

  /** Deletes a custom object guarded by its uid; NotFound and a failed uid precondition are false. @internal */
  async deleteCustomObject(plural: string, kind: string, namespace: string, name: string, uid?: string) {
    try {
      await this.#call(`delete ${kind} ${namespace}/${name}`, (api, options) =>
        api.deleteNamespacedCustomObject(
          {
            group: ISTIO_NETWORKING_GROUP,
            version: ISTIO_NETWORKING_VERSION,
            namespace,
            plural,
            name,
            propagationPolicy: 'Background',
            ...(uid ? { body: { preconditions: { uid } } } : {}),
          },
          options,
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 404) return false;
      if (error instanceof KubernetesError && error.status === 409 && uid) return false;
      throw error;
    }
  }

  /** A custom object of networking.istio.io/v1, or undefined when there is none. @internal */
  async getCustomObject<T>(plural: string, kind: string, namespace: string, name: string) {
    try {
      return (await this.#call(`get ${kind} ${namespace}/${name}`, (api, options) =>
        api.getNamespacedCustomObject(
          { group: ISTIO_NETWORKING_GROUP, version: ISTIO_NETWORKING_VERSION, namespace, plural, name },
          options,
        ),
      )) as T;
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Pages of custom objects (`*`: all namespaces) matching a label selector. @internal */
  listCustomObjects<T>(plural: string, namespace: string, labelSelector: string, limit = 500) {
    return this.#list<T>(plural, namespace, labelSelector, limit);
  }

  /** One call, all its attempts, timed for `onCall` by its verb (`apply`, `get`, `list`...). */
  async #call<T, A = CustomObjectsApi>(
    what: string,
    fn: (api: A, options: CallOptions) => Promise<T>,
    extra?: CallOptions,
    client?: () => Promise<A>,
  ): Promise<T> {
    const onCall = this.#shared.options.onCall;
    if (!onCall) return this.#attempts(what, fn, extra, client);
    const started = performance.now();
    try {
      return await this.#attempts(what, fn, extra, client);
    } finally {
      onCall(what.split(' ', 1)[0] ?? 'call', performance.now() - started);
    }
  }

  async #attempts<T, A = CustomObjectsApi>(
    what: string,
    fn: (api: A, options: CallOptions) => Promise<T>,
    extra?: CallOptions,
    client: () => Promise<A> = () => this.#client() as Promise<A>,
  ): Promise<T> {
    const { maxAttempts, backoffBaseMs, requestTimeoutMs } = this.#shared.options;
    const deadline = this.#deadline;
    for (let attempt = 1; ; attempt++) {
      if (deadline.remaining() <= 0)
        throw new KubernetesError(`${what}: no time left in this invocation`, { retriable: true });
      const signal = deadline.attempt(requestTimeoutMs);
      try {
        const api = await client();
        return await fn(api, withSignal(signal, extra));
      } catch (raw) {
        const why = deadline.signal.aborted
          ? 'no time left in this invocation'
          : `timed out after ${requestTimeoutMs} ms`;
        const error = signal.aborted
          ? new KubernetesError(`${what}: ${why} (request cancelled)`, { retriable: true, cause: raw })
          : toKubeError(raw, what);
        // A conflict needs a fresh read before another attempt: the caller retries the whole record.
        if (!error.retriable || attempt >= maxAttempts || error.status === 409) {
          throw error;
        }
        this.#shared.options.onRetry?.(error, attempt);
        const retryAfter = Number((raw as ApiException<unknown>)?.headers?.['retry-after']);
        const wait = retryDelay(attempt, backoffBaseMs, retryAfter);
        if (wait >= deadline.remaining()) throw error;
        await sleep(wait);
      }
    }
  }

  /** The WorkloadGroup, or undefined when it does not exist. */
  async getWorkloadGroup(namespace: string, name: string): Promise<WorkloadGroupView | undefined> {
    try {
      const raw = (await this.#call(`get WorkloadGroup ${namespace}/${name}`, (api, options) =>
        api.getNamespacedCustomObject(
          {
            group: ISTIO_NETWORKING_GROUP,
            version: ISTIO_NETWORKING_VERSION,
            namespace,
            plural: WORKLOAD_GROUP_PLURAL,
            name,
          },
          options,
        ),
      )) as IWorkloadGroup;
      return toGroupView(raw);
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Every WorkloadGroup in a namespace (`*`: all namespaces). */
  async listWorkloadGroups(namespace: string): Promise<WorkloadGroupView[]> {
    const out: WorkloadGroupView[] = [];
    for await (const page of this.#list<IWorkloadGroup>(WORKLOAD_GROUP_PLURAL, namespace, undefined, 500)) {
      for (const item of page) out.push(toGroupView(item));
    }
    return out;
  }

  async getWorkloadEntry(namespace: string, name: string): Promise<WorkloadEntryObject | undefined> {
    try {
      return (await this.#call(`get WorkloadEntry ${namespace}/${name}`, (api, options) =>
        api.getNamespacedCustomObject(
          {
            group: ISTIO_NETWORKING_GROUP,
            version: ISTIO_NETWORKING_VERSION,
            namespace,
            plural: WORKLOAD_ENTRY_PLURAL,
            name,
          },
          options,
        ),
      )) as WorkloadEntryObject;
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * Server-side apply with our field manager. `force` takes over fields another manager set on an
   * entry we already own; without it a concurrent foreign creation surfaces as a conflict.
   */
  async applyWorkloadEntry(entry: WorkloadEntryObject, force: boolean): Promise<WorkloadEntryObject> {
    const { namespace, name } = entry.metadata;
    return (await this.#call(
      `apply WorkloadEntry ${namespace}/${name}`,
      (api, options) =>
        api.patchNamespacedCustomObject(
          {
            group: ISTIO_NETWORKING_GROUP,
            version: ISTIO_NETWORKING_VERSION,
            namespace,
            plural: WORKLOAD_ENTRY_PLURAL,
            name,
            body: entry,
            fieldManager: this.#shared.options.fieldManager,
            force,
          },
          options,
        ),
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    )) as WorkloadEntryObject;
  }

  /**
   * Deletes an entry, guarded by its uid so that an object re-created under the same name in the
   * meantime is not deleted. NotFound is success. Returns whether this call deleted it.
   */
  async deleteWorkloadEntry(namespace: string, name: string, uid?: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#call(`delete WorkloadEntry ${namespace}/${name}`, (api, options) =>
          api.deleteNamespacedCustomObject(
            {
              group: ISTIO_NETWORKING_GROUP,
              version: ISTIO_NETWORKING_VERSION,
              namespace,
              plural: WORKLOAD_ENTRY_PLURAL,
              name,
              propagationPolicy: 'Background',
              ...(uid ? { body: { preconditions: { uid } } } : {}),
            },
            options,
          ),
        );
        return true;
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 404) return false;
        if (!(error instanceof KubernetesError && error.status === 409)) throw error;
        // A 409 is the uid precondition failing (the name holds another object now: not ours to
        // delete), or a write that raced ours (the entry is still ours: try again). Only a read tells.
        const now = uid ? await this.getWorkloadEntry(namespace, name) : undefined;
        if (uid && now?.metadata.uid !== uid) return false;
        if (attempt >= CONFLICT_ATTEMPTS) throw error;
      }
    }
  }

  /** Our entries for one instance, across the given namespaces (`*`: all). */
  async findEntriesForInstance(
    namespaces: readonly string[],
    instanceId: string,
  ): Promise<WorkloadEntryObject[]> {
    const selector = `${MANAGED_SELECTOR},${INSTANCE_ID_LABEL}=${instanceId}`;
    const scopes = namespaces.includes('*') ? ['*'] : namespaces;
    const found: WorkloadEntryObject[] = [];
    for (const ns of scopes) {
      for await (const page of this.#list<WorkloadEntryObject>(WORKLOAD_ENTRY_PLURAL, ns, selector, 100)) {
        found.push(...page);
      }
    }
    return found;
  }

  /**
   * Pages of our entries in a namespace (`*`: all namespaces), with limit/continue. Items keep only
   * what planning reads (no managedFields or status): a 10,000-entry sweep holds them all at once.
   */
  async *listManagedEntries(namespace: string, pageSize = 500): AsyncGenerator<WorkloadEntryObject[]> {
    for await (const page of this.#list<WorkloadEntryObject>(
      WORKLOAD_ENTRY_PLURAL,
      namespace,
      MANAGED_SELECTOR,
      pageSize,
    )) {
      yield page.map(compactEntry);
    }
  }

  async *#list<T>(plural: string, namespace: string, labelSelector: string | undefined, limit: number) {
    let token: string | undefined;
    do {
      const what = `list ${plural} in ${namespace === '*' ? 'all namespaces' : namespace}`;
      const page = (await this.#call(what, (api, options) => {
        const common = {
          group: ISTIO_NETWORKING_GROUP,
          version: ISTIO_NETWORKING_VERSION,
          plural,
          limit,
          ...(labelSelector ? { labelSelector } : {}),
          ...(token ? { _continue: token } : {}),
        };
        return namespace === '*'
          ? api.listClusterCustomObject(common, options)
          : api.listNamespacedCustomObject({ ...common, namespace }, options);
      })) as { items?: T[]; metadata?: { continue?: string } };
      yield page.items ?? [];
      token = page.metadata?.continue || undefined;
    } while (token);
  }
}

function compactEntry(entry: WorkloadEntryObject): WorkloadEntryObject {
  const healthy = entry.status?.conditions?.find((c) => c.type === 'Healthy');
  const { name, namespace, labels, annotations, ownerReferences, uid, resourceVersion } = entry.metadata;
  return {
    apiVersion: entry.apiVersion,
    kind: entry.kind,
    metadata: {
      name,
      namespace,
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
      ...(ownerReferences ? { ownerReferences } : {}),
      ...(uid ? { uid } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec: entry.spec,
    // Only the health istiod reports (direct endpoints' `ready` follows it).
    ...(healthy ? { status: { conditions: [{ type: healthy.type, status: healthy.status }] } } : {}),
  };
}

function toGroupView(raw: IWorkloadGroup): WorkloadGroupView {
  const spec = raw.spec as IWorkloadGroup['spec'] | undefined;
  return {
    namespace: raw.metadata?.namespace ?? '',
    name: raw.metadata?.name ?? '',
    uid: raw.metadata?.uid ?? '',
    apiVersion: raw.apiVersion ?? `${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}`,
    annotations: raw.metadata?.annotations ?? {},
    entryMetadata: {
      labels: spec?.metadata?.labels ?? {},
      annotations: spec?.metadata?.annotations ?? {},
    },
    template: { ...(spec?.template ?? {}) },
    ...(spec?.probe ? { probe: spec.probe as WorkloadGroupProbe } : {}),
  };
}
