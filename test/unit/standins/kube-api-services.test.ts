/**
 * Services and EndpointSlices in the Kubernetes API stand-in, as a kube-apiserver 1.26 treats them:
 * defaults, allocation, the registry's validation and its wording, pruning and server-side apply field
 * ownership from the published OpenAPI schemas. Driven through the real @kubernetes/client-node; bodies
 * the typed client cannot send (unknown fields, wrong types) go over plain HTTP with the same token.
 */

import {
  ApiException,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  type V1EndpointSlice,
  type V1Service,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiStandIn, type KubeStatus, startKubeApi } from '#test/standins/kube-api/index.ts';

const NS = 'default';

async function failure(p: Promise<unknown>): Promise<{ code: number; status: KubeStatus }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
    return { code: e.code, status: JSON.parse(body) as KubeStatus };
  }
  throw new Error('expected the request to fail');
}

function service(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): V1Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS, ...meta }, spec } as V1Service;
}

function slice(
  name: string,
  body: Record<string, unknown>,
  labels?: Record<string, string>,
): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: NS, ...(labels ? { labels } : {}) },
    ...body,
  } as unknown as V1EndpointSlice;
}

describe('Stand-in: Kubernetes Services and EndpointSlices', () => {
  let standIn: KubeApiStandIn;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;
  let objects: KubernetesObjectApi;

  beforeAll(async () => {
    standIn = await startKubeApi();
    const kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    core = kc.makeApiClient(CoreV1Api);
    discovery = kc.makeApiClient(DiscoveryV1Api);
    objects = KubernetesObjectApi.makeApiClient(kc);
  });

  afterAll(async () => {
    await standIn.close();
  });

  /** A request with a body the typed client would reshape. */
  const raw = async (
    method: string,
    path: string,
    body: unknown,
  ): Promise<{ code: number; json: KubeStatus & Record<string, unknown>; warning: string | null }> => {
    const res = await fetch(`${standIn.url}${path}`, {
      method,
      headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      code: res.status,
      json: (await res.json()) as KubeStatus & Record<string, unknown>,
      warning: res.headers.get('warning'),
    };
  };

  const apply = async (obj: object, manager: string, force?: boolean): Promise<V1Service> =>
    (await objects.patch(
      obj as KubernetesObject,
      undefined,
      undefined,
      manager,
      force,
      PatchStrategy.ServerSideApply,
    )) as V1Service;

  const causes = (s: KubeStatus): string[] =>
    (s.details?.causes ?? []).map((c) => `${c.field}: ${c.message}`);

  describe('Service defaults and allocation', () => {
    it('fills the defaults a real server fills and allocates a cluster IP from the service CIDR', async () => {
      // Act
      const svc = await core.createNamespacedService({
        namespace: NS,
        body: service('defaults', { selector: { app: 'web' }, ports: [{ port: 80 }] }),
      });

      // Assess
      expect(svc.spec).toMatchObject({
        type: 'ClusterIP',
        sessionAffinity: 'None',
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        internalTrafficPolicy: 'Cluster',
        ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      });
      expect(svc.spec?.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
      expect(svc.spec?.clusterIPs).toEqual([svc.spec?.clusterIP]);
      expect(svc.status).toEqual({ loadBalancer: {} });
      expect(svc.metadata?.generation).toBeUndefined();
    });

    it('accepts a selectorless Service and creates no endpoints for it', async () => {
      // Act
      const svc = await core.createNamespacedService({
        namespace: NS,
        body: service('selectorless', { ports: [{ name: 'http', port: 8080, targetPort: 'http-alt' }] }),
      });
      const slices = await discovery.listNamespacedEndpointSlice({ namespace: NS });

      // Assess
      expect(svc.spec?.selector).toBeUndefined();
      expect(svc.spec?.ports?.[0]?.targetPort).toBe('http-alt');
      expect(slices.items.filter((s) => s.metadata?.name?.startsWith('selectorless'))).toEqual([]);
    });

    it('gives a headless selectorless Service clusterIPs [None] and RequireDualStack', async () => {
      // Act
      const svc = await core.createNamespacedService({
        namespace: NS,
        body: service('headless', { clusterIP: 'None' }),
      });

      // Assess
      expect(svc.spec).toMatchObject({
        clusterIP: 'None',
        clusterIPs: ['None'],
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'RequireDualStack',
      });
    });

    it('allocates node ports for a NodePort Service and defaults externalTrafficPolicy', async () => {
      // Act
      const svc = await core.createNamespacedService({
        namespace: NS,
        body: service('nodeport', { type: 'NodePort', selector: { app: 'np' }, ports: [{ port: 80 }] }),
      });

      // Assess
      expect(svc.spec?.externalTrafficPolicy).toBe('Cluster');
      expect(svc.spec?.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);
      expect(svc.spec?.ports?.[0]?.nodePort).toBeLessThanOrEqual(32767);
    });

    it('refuses a requested cluster IP outside the service CIDR or already allocated', async () => {
      // Prepare
      const taken = await core.createNamespacedService({
        namespace: NS,
        body: service('ip-owner', { ports: [{ port: 80 }] }),
      });

      // Act
      const outside = await failure(
        core.createNamespacedService({
          namespace: NS,
          body: service('ip-outside', { clusterIP: '192.168.0.10', ports: [{ port: 80 }] }),
        }),
      );
      const clash = await failure(
        core.createNamespacedService({
          namespace: NS,
          body: service('ip-clash', { clusterIP: taken.spec!.clusterIP!, ports: [{ port: 80 }] }),
        }),
      );

      // Assess
      expect(outside.code).toBe(422);
      expect(outside.status.message).toBe(
        'Service "ip-outside" is invalid: spec.clusterIPs: Invalid value: []string{"192.168.0.10"}: failed to allocate IP 192.168.0.10: the provided IP (192.168.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
      );
      expect(causes(clash.status)).toEqual([
        `spec.clusterIPs: Invalid value: []string{"${taken.spec!.clusterIP}"}: failed to allocate IP ${taken.spec!.clusterIP}: provided IP is already allocated`,
      ]);
    });
  });

  describe('Service validation', () => {
    it('requires names when there is more than one port, and checks them as DNS-1123 labels, unique', async () => {
      // Act
      const unnamed = await failure(
        core.createNamespacedService({
          namespace: NS,
          body: service('two-unnamed', { ports: [{ port: 80 }, { port: 81 }] }),
        }),
      );
      const bad = await failure(
        core.createNamespacedService({
          namespace: NS,
          body: service('bad-names', {
            ports: [
              { name: 'Web_1', port: 80 },
              { name: 'dup', port: 81 },
              { name: 'dup', port: 82 },
            ],
          }),
        }),
      );

      // Assess
      expect(unnamed.code).toBe(422);
      expect(unnamed.status.reason).toBe('Invalid');
      expect(unnamed.status.details).toMatchObject({ name: 'two-unnamed', kind: 'Service' });
      expect(unnamed.status.message).toBe(
        'Service "two-unnamed" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]',
      );
      expect(causes(bad.status)).toEqual([
        "spec.ports[0].name: Invalid value: \"Web_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        'spec.ports[2].name: Duplicate value: "dup"',
      ]);
    });

    it('checks port numbers, protocols, target ports and appProtocol', async () => {
      // Act
      const { code, status } = await failure(
        core.createNamespacedService({
          namespace: NS,
          body: service('bad-ports', {
            ports: [
              { name: 'zero', port: 0 },
              { name: 'icmp', port: 81, protocol: 'ICMP' },
              { name: 'big-target', port: 82, targetPort: 70000 },
              { name: 'named-target', port: 83, targetPort: 'no--good' },
              { name: 'digits', port: 84, targetPort: '8080' },
              { name: 'app', port: 85, appProtocol: 'not valid' },
            ],
          }),
        }),
      );

      // Assess
      expect(code).toBe(422);
      expect(causes(status)).toEqual([
        'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        // targetPort defaults to port, so a zero port fails twice, as on the server.
        'spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive',
        'spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ports[2].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
        'spec.ports[3].targetPort: Invalid value: "no--good": must not contain consecutive hyphens',
        'spec.ports[4].targetPort: Invalid value: "8080": must contain at least one letter (a-z)',
        "spec.ports[5].appProtocol: Invalid value: \"not valid\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      ]);
    });

    it('refuses two ports with the same port and protocol, and ports missing on a ClusterIP Service', async () => {
      // Act
      const dup = await failure(
        core.createNamespacedService({
          namespace: NS,
          body: service('dup-ports', {
            ports: [
              { name: 'a', port: 80 },
              { name: 'b', port: 80 },
            ],
          }),
        }),
      );
      const none = await failure(
        core.createNamespacedService({ namespace: NS, body: service('no-ports', { selector: { a: 'b' } }) }),
      );

      // Assess
      expect(causes(dup.status)).toEqual([
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}',
      ]);
      expect(causes(none.status)).toEqual(['spec.ports: Required value']);
    });

    it('refuses externalTrafficPolicy on a Service that is not externally accessible', async () => {
      // Act
      const { status } = await failure(
        core.createNamespacedService({
          namespace: NS,
          body: service('etp-clusterip', { ports: [{ port: 80 }], externalTrafficPolicy: 'Local' }),
        }),
      );

      // Assess
      expect(causes(status)).toEqual([
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services',
      ]);
    });

    it('keeps the cluster IP on an update that omits it and refuses one that changes it', async () => {
      // Prepare
      const created = await core.createNamespacedService({
        namespace: NS,
        body: service('immutable-ip', { selector: { app: 'x' }, ports: [{ port: 80 }] }),
      });
      const ip = created.spec!.clusterIP!;

      // Act
      const kept = await core.replaceNamespacedService({
        name: 'immutable-ip',
        namespace: NS,
        body: service('immutable-ip', { selector: { app: 'y' }, ports: [{ port: 80 }] }),
      });
      const changed = await failure(
        core.replaceNamespacedService({
          name: 'immutable-ip',
          namespace: NS,
          body: service('immutable-ip', { clusterIP: '10.96.250.250', ports: [{ port: 80 }] }),
        }),
      );

      // Assess
      expect(kept.spec?.clusterIP).toBe(ip);
      expect(kept.spec?.clusterIPs).toEqual([ip]);
      expect(kept.spec?.selector).toEqual({ app: 'y' });
      expect(changed.code).toBe(422);
      expect(changed.status.message).toBe(
        'Service "immutable-ip" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.250.250"}: may not change once set',
      );
    });
  });

  describe('Service decoding and pruning', () => {
    it('refuses a value the Go decoder cannot read with 400, worded like encoding/json', async () => {
      // Act
      const inRange = await raw('POST', `/api/v1/namespaces/${NS}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'decode-ok' },
        spec: { ports: [{ port: 70000 }] },
      });
      const tooBig = await raw('POST', `/api/v1/namespaces/${NS}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'decode-big' },
        spec: { ports: [{ port: 4294967296 }] },
      });
      const text = await raw('POST', `/api/v1/namespaces/${NS}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'decode-text' },
        spec: { ports: [{ port: '80' }] },
      });

      // Assess
      expect(inRange.code).toBe(422); // an int32: decoded, then refused by validation
      expect(tooBig.code).toBe(400);
      expect(tooBig.json.reason).toBe('BadRequest');
      expect(tooBig.json.message).toBe(
        'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal number 4294967296 into Go struct field ServicePort.spec.ports.port of type int32',
      );
      expect(text.json.message).toBe(
        'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32',
      );
    });

    it('drops unknown fields with a warning, or refuses them under fieldValidation=Strict', async () => {
      // Prepare
      const body = (name: string): unknown => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name },
        spec: { ports: [{ port: 80, colour: 'blue' }], flavour: 'x' },
      });

      // Act
      const warned = await raw('POST', `/api/v1/namespaces/${NS}/services`, body('unknown-warn'));
      const strict = await raw(
        'POST',
        `/api/v1/namespaces/${NS}/services?fieldValidation=Strict`,
        body('unknown-strict'),
      );

      // Assess
      expect(warned.code).toBe(201);
      expect(warned.warning).toContain('unknown field \\"spec.flavour\\"');
      expect(warned.warning).toContain('unknown field \\"spec.ports[0].colour\\"');
      expect(standIn.get('v1', 'Service', NS, 'unknown-warn')?.spec).not.toHaveProperty('flavour');
      expect(strict.code).toBe(400);
      expect(strict.json.message).toContain('strict decoding error: unknown field "spec.');
    });
  });

  describe('Service server-side apply', () => {
    const desired = (ports: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): object => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'shared', namespace: NS, annotations: { 'registrar.example/owner': 'a' } },
      spec: { type: 'NodePort', selector: { app: 'web' }, ports, ...extra },
    });

    it("keeps another manager's fields, prunes a port the manager stops applying, and keys ports by port+protocol", async () => {
      // Prepare
      await apply(
        desired([
          { name: 'http', port: 80 },
          { name: 'https', port: 443 },
        ]),
        'registrar',
      );
      await apply(
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'shared', namespace: NS, annotations: { 'ops.example/note': 'keep' } },
          spec: { externalTrafficPolicy: 'Local' },
        },
        'operator',
        true,
      );

      // Act
      const after = await apply(desired([{ name: 'http', port: 80 }]), 'registrar');

      // Assess
      expect(after.spec?.ports?.map((p) => p.port)).toEqual([80]);
      expect(after.spec?.externalTrafficPolicy).toBe('Local');
      expect(after.metadata?.annotations).toEqual({
        'registrar.example/owner': 'a',
        'ops.example/note': 'keep',
      });
      const mine = after.metadata?.managedFields?.find((m) => m.manager === 'registrar');
      expect(mine?.fieldsV1).toMatchObject({
        'f:spec': {
          'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {} } },
        },
      });
    });

    it('treats spec.selector as atomic: another manager takes the whole map, not a key', async () => {
      // Prepare
      await apply(desired([{ name: 'http', port: 80 }]), 'registrar');

      // Act
      const refused = await failure(
        apply(
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'shared', namespace: NS },
            spec: { selector: { tier: 'x' } },
          },
          'intruder',
        ),
      );
      const forced = await apply(
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'shared', namespace: NS },
          spec: { selector: { tier: 'x' } },
        },
        'intruder',
        true,
      );

      // Assess
      expect(refused.code).toBe(409);
      expect(refused.status.message).toBe(
        'Apply failed with 1 conflict: conflict with "registrar": .spec.selector',
      );
      expect(forced.spec?.selector).toEqual({ tier: 'x' });
    });
  });

  describe('EndpointSlices', () => {
    const endpoints = (n: number, addresses = ['10.1.0.1']): Array<Record<string, unknown>> =>
      Array.from({ length: n }, () => ({ addresses }));

    it('defaults port name and protocol and endpoint conditions, and keeps the managed-by label as sent', async () => {
      // Act
      const created = await discovery.createNamespacedEndpointSlice({
        namespace: NS,
        body: slice(
          'web-abc',
          { addressType: 'IPv4', endpoints: [{ addresses: ['10.1.0.1'] }], ports: [{ port: 8080 }] },
          {
            'kubernetes.io/service-name': 'web',
            'endpointslice.kubernetes.io/managed-by': 'istio-vm-registrar',
          },
        ),
      });

      // Assess
      expect(created.ports).toEqual([{ name: '', port: 8080, protocol: 'TCP' }]);
      expect(created.endpoints).toEqual([{ addresses: ['10.1.0.1'], conditions: {} }]);
      expect(created.metadata?.generation).toBe(1);
      expect(created.metadata?.labels).toEqual({
        'kubernetes.io/service-name': 'web',
        'endpointslice.kubernetes.io/managed-by': 'istio-vm-registrar',
      });
    });

    it('requires addressType and refuses an unknown one', async () => {
      // Act
      const missing = await failure(
        discovery.createNamespacedEndpointSlice({ namespace: NS, body: slice('no-type', { endpoints: [] }) }),
      );
      const unknown = await failure(
        discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: slice('odd-type', { addressType: 'IP', endpoints: [] }),
        }),
      );

      // Assess
      expect(missing.code).toBe(422);
      expect(missing.status.message).toBe(
        'EndpointSlice.discovery.k8s.io "no-type" is invalid: addressType: Required value',
      );
      expect(causes(unknown.status)).toEqual([
        'addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"',
      ]);
    });

    it('keeps addressType immutable', async () => {
      // Prepare
      await discovery.createNamespacedEndpointSlice({
        namespace: NS,
        body: slice('fixed-type', { addressType: 'IPv4', endpoints: [] }),
      });

      // Act
      const { code, status } = await failure(
        discovery.replaceNamespacedEndpointSlice({
          name: 'fixed-type',
          namespace: NS,
          body: slice('fixed-type', { addressType: 'IPv6', endpoints: [] }),
        }),
      );

      // Assess
      expect(code).toBe(422);
      expect(causes(status)).toEqual(['addressType: Invalid value: "IPv6": field is immutable']);
    });

    it('allows 1000 endpoints, refuses 1001, and 1 to 100 addresses per endpoint', async () => {
      // Act
      const full = await discovery.createNamespacedEndpointSlice({
        namespace: NS,
        body: slice('full', { addressType: 'IPv4', endpoints: endpoints(1000) }),
      });
      const over = await failure(
        discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: slice('over', { addressType: 'IPv4', endpoints: endpoints(1001) }),
        }),
      );
      const addrs = await failure(
        discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: slice('addrs', {
            addressType: 'IPv4',
            endpoints: [
              { addresses: [] },
              { addresses: Array.from({ length: 101 }, (_, i) => `10.2.${i >> 8}.${(i % 250) + 1}`) },
            ],
          }),
        }),
      );

      // Assess
      expect(full.endpoints).toHaveLength(1000);
      expect(causes(over.status)).toEqual(['endpoints: Too many: 1001: must have at most 1000 items']);
      expect(causes(addrs.status)).toEqual([
        'endpoints[0].addresses: Required value: must contain at least 1 address',
        'endpoints[1].addresses: Too many: 101: must have at most 100 items',
      ]);
    });

    it('checks each address against the addressType', async () => {
      // Act
      const v4 = await failure(
        discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: slice('bad-v4', {
            addressType: 'IPv4',
            endpoints: [{ addresses: ['fd00::1', '127.0.0.1', 'nope'] }],
          }),
        }),
      );
      const fqdn = await failure(
        discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: slice('bad-fqdn', { addressType: 'FQDN', endpoints: [{ addresses: ['localhost'] }] }),
        }),
      );

      // Assess
      expect(causes(v4.status)).toEqual([
        'endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address',
        'endpoints[0].addresses[1]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
        'endpoints[0].addresses[2]: Invalid value: "nope": must be a valid IPv4 address',
        'endpoints[0].addresses[2]: Invalid value: "nope": must be a valid IP address',
      ]);
      expect(causes(fqdn.status)).toEqual([
        'endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two segments separated by dots',
      ]);
    });

    it('checks port names (DNS-1123 labels, unique) and protocols', async () => {
      // Act
      const { status } = await failure(
        discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: slice('bad-slice-ports', {
            addressType: 'IPv4',
            endpoints: [],
            ports: [
              { name: 'http', port: 80 },
              { name: 'http', port: 81 },
              { name: 'Bad', port: 82 },
              { name: 'icmp', port: 83, protocol: 'ICMP' },
            ],
          }),
        }),
      );

      // Assess
      expect(causes(status)).toEqual([
        'ports[1].name: Duplicate value: "http"',
        "ports[2].name: Invalid value: \"Bad\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        'ports[3].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      ]);
    });

    it('validates the kubernetes.io/service-name label as a label value', async () => {
      // Act
      const { status } = await failure(
        discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: slice(
            'bad-label',
            { addressType: 'IPv4', endpoints: [] },
            { 'kubernetes.io/service-name': 'not a name' },
          ),
        }),
      );

      // Assess
      expect(status.details?.causes?.map((c) => c.field)).toEqual(['metadata.labels']);
    });
  });
});
