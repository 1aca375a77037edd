import { CoreV1Api, DiscoveryV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { SERVICE_ENTRY_PLURAL, SERVICE_NAME_LABEL } from '../constants.ts';
import type { EndpointSliceObject } from '../domain/endpoint-slices.ts';
import type { ServiceEntryObject, ServiceObject } from '../domain/services.ts';
import { KubernetesError } from './errors.ts';
import { type KubeWorkloads, MANAGED_SELECTOR } from './kube.ts';

/**
 * The Kubernetes side of Services for VM workloads: core/v1 Services, Istio ServiceEntries and
 * discovery.k8s.io/v1 EndpointSlices. Same retries, deadline and cancellation as `KubeWorkloads`
 * (it makes the calls); no decisions. Cheap to make: build one from any bound `KubeWorkloads`.
 */
export class KubeServiceObjects {
  readonly #kube: KubeWorkloads;
  constructor(kube: KubeWorkloads) {
    this.#kube = kube;
  }

  /** The Service, or undefined when there is none of that name. */
  async getService(namespace: string, name: string): Promise<ServiceObject | undefined> {
    return notFoundAsUndefined(
      this.#kube.callApi(CoreV1Api, `get Service ${namespace}/${name}`, (api, options) =>
        api.readNamespacedService({ namespace, name }, options),
      ) as Promise<unknown> as Promise<ServiceObject>,
    );
  }

  /** Our Services (managed-by label) in a namespace (`*`: all), with an extra label selector. */
  async listServices(namespace: string, selector?: string): Promise<ServiceObject[]> {
    const labelSelector = selector ? `${MANAGED_SELECTOR},${selector}` : MANAGED_SELECTOR;
    const out: ServiceObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.#kube.callApi(
        CoreV1Api,
        `list Services in ${namespace === '*' ? 'all namespaces' : namespace}`,
        (api, options) => {
          const common = { labelSelector, limit: 500, ...(token ? { _continue: token } : {}) };
          return namespace === '*'
            ? api.listServiceForAllNamespaces(common, options)
            : api.listNamespacedService({ ...common, namespace }, options);
        },
      );
      // A real API server gives a built-in list's items no apiVersion or kind (kubernetes#3030).
      out.push(
        ...(page.items as unknown as ServiceObject[]).map((item) => ({
          ...plain(item),
          apiVersion: 'v1' as const,
          kind: 'Service' as const,
        })),
      );
      token = page.metadata?._continue || undefined;
    } while (token);
    return out;
  }

  /**
   * Server-side apply with our field manager. `force` only for a Service we own (we take our fields
   * back from hand edits); a new one without, so a foreign Service created meanwhile conflicts.
   */
  async applyService(service: ServiceObject, force: boolean): Promise<ServiceObject> {
    const { namespace, name } = service.metadata;
    const applied = await this.#kube.callApi(
      CoreV1Api,
      `apply Service ${namespace}/${name}`,
      (api, options) =>
        api.patchNamespacedService(
          { namespace, name, body: service, fieldManager: this.#kube.fieldManager, force },
          options,
        ),
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    return plain(applied as unknown as ServiceObject);
  }

  /** Deletes a Service guarded by its uid. NotFound and another object's uid: false. */
  async deleteService(namespace: string, name: string, uid?: string): Promise<boolean> {
    return deleted(
      this.#kube.callApi(CoreV1Api, `delete Service ${namespace}/${name}`, (api, options) =>
        api.deleteNamespacedService(
          {
            namespace,
            name,
            propagationPolicy: 'Background',
            ...(uid ? { body: { preconditions: { uid } } } : {}),
          },
          options,
        ),
      ),
      uid,
    );
  }

  getServiceEntry(namespace: string, name: string): Promise<ServiceEntryObject | undefined> {
    return this.#kube.getCustomObject<ServiceEntryObject>(
      SERVICE_ENTRY_PLURAL,
      'ServiceEntry',
      namespace,
      name,
    );
  }

  /** Our ServiceEntries in a namespace (`*`: all), with an extra label selector. */
  async listServiceEntries(namespace: string, selector?: string): Promise<ServiceEntryObject[]> {
    const out: ServiceEntryObject[] = [];
    for await (const page of this.#kube.listCustomObjects<ServiceEntryObject>(
      SERVICE_ENTRY_PLURAL,
      namespace,
      selector ? `${MANAGED_SELECTOR},${selector}` : MANAGED_SELECTOR,
    )) {
      out.push(...page);
    }
    return out;
  }

  applyServiceEntry(entry: ServiceEntryObject, force: boolean): Promise<ServiceEntryObject> {
    return this.#kube.applyCustomObject<ServiceEntryObject>(
      SERVICE_ENTRY_PLURAL,
      entry,
      force,
      'ServiceEntry',
    );
  }

  deleteServiceEntry(namespace: string, name: string, uid?: string): Promise<boolean> {
    return this.#kube.deleteCustomObject(SERVICE_ENTRY_PLURAL, 'ServiceEntry', namespace, name, uid);
  }

  /**
   * Our EndpointSlices in a namespace (`*`: all): of one Service when `service` is given.
   * Items keep every field (an update starts from them).
   */
  async listEndpointSlices(namespace: string, service?: string): Promise<EndpointSliceObject[]> {
    const labelSelector = service ? `${MANAGED_SELECTOR},${SERVICE_NAME_LABEL}=${service}` : MANAGED_SELECTOR;
    const out: EndpointSliceObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.#kube.callApi(
        DiscoveryV1Api,
        `list EndpointSlices in ${namespace === '*' ? 'all namespaces' : namespace}`,
        (api, options) => {
          const common = { labelSelector, limit: 500, ...(token ? { _continue: token } : {}) };
          return namespace === '*'
            ? api.listEndpointSliceForAllNamespaces(common, options)
            : api.listNamespacedEndpointSlice({ ...common, namespace }, options);
        },
      );
      out.push(
        ...(page.items as unknown as EndpointSliceObject[]).map((s) => ({
          ...plain(s),
          apiVersion: 'discovery.k8s.io/v1' as const,
          kind: 'EndpointSlice' as const,
        })),
      );
      token = page.metadata?._continue || undefined;
    } while (token);
    return out;
  }

  /** Creates a slice; 409 AlreadyExists when the name is taken (the caller re-reads). */
  async createEndpointSlice(slice: EndpointSliceObject): Promise<EndpointSliceObject> {
    const { namespace, name } = slice.metadata;
    const created = await this.#kube.callApi(
      DiscoveryV1Api,
      `create EndpointSlice ${namespace}/${name}`,
      (api, options) =>
        api.createNamespacedEndpointSlice(
          { namespace, body: slice as never, fieldManager: this.#kube.fieldManager },
          options,
        ),
    );
    return plain(created as unknown as EndpointSliceObject);
  }

  /**
   * Replaces a slice; the body's resourceVersion is the precondition (409 Conflict when the slice
   * changed since it was read: its `endpoints` list is atomic, so the caller re-reads and re-plans).
   */
  async replaceEndpointSlice(slice: EndpointSliceObject): Promise<EndpointSliceObject> {
    const { namespace, name } = slice.metadata;
    // Timestamps and managedFields stay the server's (a body without managedFields keeps them).
    const {
      managedFields: _m,
      creationTimestamp: _c,
      ...metadata
    } = slice.metadata as Record<string, unknown>;
    const body = { ...slice, metadata };
    const replaced = await this.#kube.callApi(
      DiscoveryV1Api,
      `update EndpointSlice ${namespace}/${name}`,
      (api, options) =>
        api.replaceNamespacedEndpointSlice(
          { namespace, name, body: body as never, fieldManager: this.#kube.fieldManager },
          options,
        ),
    );
    return plain(replaced as unknown as EndpointSliceObject);
  }

  /** Deletes a slice guarded by uid and resourceVersion (409 when it changed since it was read). */
  async deleteEndpointSlice(
    namespace: string,
    name: string,
    preconditions: { uid?: string; resourceVersion?: string } = {},
  ): Promise<boolean> {
    try {
      await this.#kube.callApi(DiscoveryV1Api, `delete EndpointSlice ${namespace}/${name}`, (api, options) =>
        api.deleteNamespacedEndpointSlice(
          {
            namespace,
            name,
            ...(preconditions.uid || preconditions.resourceVersion ? { body: { preconditions } } : {}),
          },
          options,
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 404) return false;
      throw error;
    }
  }
}

/**
 * client-node's typed models turn timestamps into Date objects and give absent fields `undefined`
 * keys; the domain compares plain JSON, as the server sent it.
 */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

async function notFoundAsUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return plain(await call);
  } catch (error) {
    if (error instanceof KubernetesError && error.status === 404) return undefined;
    throw error;
  }
}

async function deleted(call: Promise<unknown>, uid?: string): Promise<boolean> {
  try {
    await call;
    return true;
  } catch (error) {
    if (error instanceof KubernetesError && error.status === 404) return false;
    // The uid precondition failed: the name now belongs to another object, not ours to delete.
    if (error instanceof KubernetesError && error.status === 409 && uid) return false;
    throw error;
  }
}
