import { describe, expect, it } from 'vitest';
import {
  type DirectEndpoint,
  type DirectServiceRef,
  type EndpointSliceObject,
  MAX_ENDPOINTS_PER_SLICE,
  planSlices,
  renderEndpoint,
} from '../../../shared/domain/endpoint-slices.ts';
import {
  inferPortProtocol,
  renderGroupServices,
  type ServiceObject,
  serviceObjectMatches,
} from '../../../shared/domain/services.ts';
import type { WorkloadGroupView } from '../../../shared/domain/types.ts';

function group(overrides: Partial<WorkloadGroupView> = {}): WorkloadGroupView {
  return {
    namespace: 'bookinfo',
    name: 'reviews',
    uid: 'uid-1',
    apiVersion: 'networking.istio.io/v1',
    annotations: { 'istio-vm-registrar.io/service': 'service' },
    entryMetadata: { labels: { app: 'reviews' }, annotations: {} },
    template: { ports: { http: 9080 }, labels: { version: 'v1' } },
    ...overrides,
  };
}

describe('Function: inferPortProtocol()', () => {
  it.each([
    ['http', 'http'],
    ['http-web', 'http'],
    ['http2', 'http2'],
    ['https-admin', 'https'],
    ['grpc', 'grpc'],
    ['grpc-web', 'grpc-web'],
    ['grpc-web-ui', 'grpc-web'],
    ['GRPC-api', 'grpc'],
    ['tcp-db', 'tcp'],
    ['tls', 'tls'],
    ['mongo', 'mongo'],
    ['mysql-main', 'mysql'],
    ['redis', 'redis'],
  ])('reads %s as %s', (name, appProtocol) => {
    expect(inferPortProtocol(name)).toEqual({ appProtocol });
  });

  it('reads no protocol from names that only start like one, and UDP without an appProtocol', () => {
    expect(inferPortProtocol('httpx')).toBeUndefined();
    expect(inferPortProtocol('metrics')).toBeUndefined();
    expect(inferPortProtocol('udp-dns')).toEqual({ udp: true });
  });
});

describe('Function: renderGroupServices()', () => {
  it('selects on the labels every entry carries (group labels over template labels) and never the instance label', () => {
    const r = renderGroupServices(
      group({ entryMetadata: { labels: { app: 'reviews', version: 'v2' }, annotations: {} } }),
      'none',
    );
    expect(r.ok && (r.services.objects[0] as ServiceObject).spec.selector).toEqual({
      app: 'reviews',
      version: 'v2',
    });
  });

  it('renders nothing for mode none without direct endpoints, and the same digest for the same group', () => {
    const none = renderGroupServices(group({ annotations: {} }), 'none');
    expect(none.ok && none.services.objects).toEqual([]);
    const a = renderGroupServices(group(), 'none');
    const b = renderGroupServices(group(), 'none');
    expect(a.ok && b.ok && a.services.digest === b.services.digest).toBe(true);
    const c = renderGroupServices(
      group({ template: { ports: { http: 9081 }, labels: { version: 'v1' } } }),
      'none',
    );
    expect(a.ok && c.ok && a.services.digest !== c.services.digest).toBe(true);
  });

  it.each([
    [
      { 'istio-vm-registrar.io/service': 'yes' },
      'invalid-service-annotation',
      /is not one of service, serviceentry, none/,
    ],
    [
      { 'istio-vm-registrar.io/service': 'service', 'istio-vm-registrar.io/service-name': 'Reviews' },
      'invalid-service-annotation',
      /is not a DNS-1035 label/,
    ],
    [
      {
        'istio-vm-registrar.io/service': 'serviceentry',
        'istio-vm-registrar.io/service-hosts': '*.example.com',
      },
      'invalid-service-annotation',
      /"\*\.example\.com" is not one/,
    ],
    [
      { 'istio-vm-registrar.io/service': 'service', 'istio-vm-registrar.io/app-protocols': 'web=http' },
      'invalid-service-annotation',
      /names port "web", which the template does not have/,
    ],
    [
      {
        'istio-vm-registrar.io/service': 'service',
        'istio-vm-registrar.io/app-protocols': 'http=not a name',
      },
      'invalid-service-annotation',
      /is not <port name>=<appProtocol>/,
    ],
    [
      { 'istio-vm-registrar.io/direct-endpoints': 'on' },
      'invalid-service-annotation',
      /is not true or false/,
    ],
    [
      {
        'istio-vm-registrar.io/service': 'service',
        'istio-vm-registrar.io/direct-endpoints': 'true',
        'istio-vm-registrar.io/direct-service-name': 'reviews',
      },
      'invalid-service-annotation',
      /may not share the name "reviews"/,
    ],
  ])('refuses the annotations %j (%s)', (annotations, reason, message) => {
    const r = renderGroupServices(group({ annotations }), 'none');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.refusal.reason).toBe(reason);
      expect(r.refusal.message).toMatch(message);
    }
  });

  it('refuses a group without ports, without labels, with an invalid port name, or multi-network with direct endpoints', () => {
    const reason = (g: WorkloadGroupView) => {
      const r = renderGroupServices(g, 'none');
      return r.ok ? 'ok' : r.refusal.reason;
    };
    expect(reason(group({ template: { labels: { version: 'v1' } } }))).toBe('no-ports');
    expect(
      reason(group({ template: { ports: { http: 1 } }, entryMetadata: { labels: {}, annotations: {} } })),
    ).toBe('no-selector-labels');
    expect(reason(group({ template: { ports: { HTTP: 80 }, labels: { a: 'b' } } }))).toBe(
      'invalid-port-name',
    );
    expect(
      reason(
        group({
          annotations: { 'istio-vm-registrar.io/direct-endpoints': 'true' },
          template: { ports: { http: 80 }, network: 'vm-net' },
        }),
      ),
    ).toBe('direct-endpoints-multi-network');
  });

  it('takes the mode from the default when the group does not say', () => {
    const r = renderGroupServices(group({ annotations: {} }), 'serviceentry');
    expect(r.ok && r.services.objects.map((o) => o.kind)).toEqual(['ServiceEntry']);
    expect(r.ok && r.services.objects[0]?.spec.hosts).toEqual(['reviews.bookinfo.svc.cluster.local']);
  });
});

describe('Function: serviceObjectMatches()', () => {
  const desired = () => {
    const r = renderGroupServices(group(), 'none');
    if (!r.ok) throw new Error(r.refusal.message);
    return r.services.objects[0] as ServiceObject;
  };
  const asServed = (): ServiceObject => {
    const d = desired();
    return {
      ...d,
      metadata: { ...d.metadata, uid: 'svc-uid', annotations: { ...d.metadata.annotations, 'ops/x': 'y' } },
      spec: {
        ...d.spec,
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        clusterIPs: ['10.96.0.10'],
        sessionAffinity: 'None',
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        internalTrafficPolicy: 'Cluster',
        externalTrafficPolicy: 'Local',
        ports: [
          { ...d.spec.ports![0]!, nodePort: 30001 },
          { name: 'extra', port: 1, protocol: 'TCP' },
        ],
      },
    };
  };

  it("is not fooled by what the server filled in or another manager's fields", () => {
    expect(serviceObjectMatches(asServed(), desired())).toBe(true);
  });

  it('sees an edited selector, an edited port of ours, a missing port and a changed digest', () => {
    const a = asServed();
    a.spec.selector = { app: 'reviews', version: 'v1', extra: 'x' };
    expect(serviceObjectMatches(a, desired())).toBe(false);
    const b = asServed();
    b.spec.ports = [{ ...b.spec.ports![0]!, port: 1234 }];
    expect(serviceObjectMatches(b, desired())).toBe(false);
    const c = asServed();
    c.spec.ports = [];
    expect(serviceObjectMatches(c, desired())).toBe(false);
    const d = asServed();
    d.metadata.annotations = { 'istio-vm-registrar.io/applied-hash': 'old' };
    expect(serviceObjectMatches(d, desired())).toBe(false);
  });
});

describe('Function: planSlices()', () => {
  const service: DirectServiceRef = {
    namespace: 'bookinfo',
    name: 'reviews-direct',
    uid: 'svc-uid',
    groupUid: 'uid-1',
    ports: [{ name: 'http', port: 9080, protocol: 'TCP', appProtocol: 'http' }],
  };
  const ep = (n: number, extra: Partial<DirectEndpoint> = {}): DirectEndpoint => ({
    key: `reviews-i-${n}`,
    address: `10.0.${n >> 8}.${n & 255}`,
    ...extra,
  });
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ep(from + i));
  /** Applies planned writes to a copy of the slices, as the server would. */
  const run = (live: EndpointSliceObject[], writes: ReturnType<typeof planSlices>) => {
    let out = [...live];
    for (const w of writes) {
      if (w.op === 'create') out.push(w.slice);
      else if (w.op === 'update')
        out = out.map((s) => (s.metadata.name === w.slice.metadata.name ? w.slice : s));
      else out = out.filter((s) => s.metadata.name !== w.name);
    }
    return out;
  };
  const sizes = (slices: EndpointSliceObject[]) =>
    slices.map((s) => `${s.metadata.name}:${s.endpoints?.length}`);

  it('fills slices up to 100 endpoints, then opens the next', () => {
    const slices = run([], planSlices(service, [], { kind: 'exactly', endpoints: range(1, 250) }));
    expect(MAX_ENDPOINTS_PER_SLICE).toBe(100);
    expect(sizes(slices)).toEqual(['reviews-direct-1:100', 'reviews-direct-2:100', 'reviews-direct-3:50']);
  });

  it('keeps endpoints where they are, first-fits new ones, and deletes a slice left empty', () => {
    let slices = run([], planSlices(service, [], { kind: 'exactly', endpoints: range(1, 150) }));
    const writes = planSlices(service, slices, {
      kind: 'delta',
      upsert: [ep(151)],
      remove: range(1, 100).map((e) => e.key),
    });
    expect(writes.map((w) => w.op)).toEqual(['update']);
    slices = run(slices, writes);
    expect(sizes(slices)).toEqual(['reviews-direct-1:1', 'reviews-direct-2:50']);
    expect(slices[1]?.endpoints?.map((e) => e.addresses[0])).toEqual(range(101, 150).map((e) => e.address));
    slices = run(slices, planSlices(service, slices, { kind: 'delta', upsert: [], remove: [ep(151).key] }));
    expect(sizes(slices)).toEqual(['reviews-direct-2:50']);
  });

  it('plans nothing when the slices already hold the endpoints, with the server defaults filled in', () => {
    const slices = run([], planSlices(service, [], { kind: 'exactly', endpoints: range(1, 3) })).map((s) => ({
      ...s,
      metadata: { ...s.metadata, resourceVersion: '7', uid: 'slice-uid' },
      endpoints: s.endpoints?.map((e) => ({ ...e, conditions: {} })),
    }));
    expect(planSlices(service, slices, { kind: 'exactly', endpoints: range(1, 3) })).toEqual([]);
    expect(planSlices(service, slices, { kind: 'delta', upsert: [ep(2)], remove: [] })).toEqual([]);
  });

  it('a sweep removes duplicates and sets ready from health; a delta keeps the conditions of an unmoved endpoint', () => {
    const a = run([], planSlices(service, [], { kind: 'exactly', endpoints: [ep(1)] }));
    const dup: EndpointSliceObject = {
      ...a[0]!,
      metadata: { ...a[0]!.metadata, name: 'reviews-direct-2' },
      endpoints: [renderEndpoint('bookinfo', ep(1)), renderEndpoint('bookinfo', ep(2))],
    };
    const swept = run(
      [...a, dup],
      planSlices(service, [...a, dup], { kind: 'exactly', endpoints: [ep(1, { ready: false }), ep(2)] }),
    );
    expect(swept.flatMap((s) => s.endpoints ?? []).map((e) => [e.addresses[0], e.conditions])).toEqual([
      ['10.0.0.1', { ready: false, serving: false }],
      ['10.0.0.2', {}],
    ]);
    const kept = run(swept, planSlices(service, swept, { kind: 'delta', upsert: [ep(1)], remove: [] }));
    expect(kept[0]?.endpoints?.[0]?.conditions).toEqual({ ready: false, serving: false });
    const moved = run(
      swept,
      planSlices(service, swept, { kind: 'delta', upsert: [{ ...ep(1), address: '10.9.9.9' }], remove: [] }),
    );
    expect(moved[0]?.endpoints?.[0]).toMatchObject({ addresses: ['10.9.9.9'], conditions: {} });
  });

  it('uses the next free name when a new slice name is taken by someone else, and keeps their labels on update', () => {
    const [create] = planSlices(
      service,
      [],
      { kind: 'exactly', endpoints: [ep(1)] },
      new Set(['reviews-direct-1']),
    );
    expect(create?.op === 'create' && create.slice.metadata.name).toBe('reviews-direct-2');
    const live = run([], planSlices(service, [], { kind: 'exactly', endpoints: [ep(1)] }));
    live[0]!.metadata.labels = { ...live[0]!.metadata.labels, 'team.example/x': 'y' };
    const [update] = planSlices(service, live, { kind: 'delta', upsert: [ep(2)], remove: [] });
    expect(update?.op === 'update' && update.slice.metadata.labels?.['team.example/x']).toBe('y');
  });
});
