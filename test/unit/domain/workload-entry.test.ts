import { describe, expect, it } from 'vitest';
import { contentHash, entryMatches, renderWorkloadEntry } from '../../../shared/domain/workload-entry.ts';
import { facts, group } from '../../helpers/domain.ts';

const render = (...args: Parameters<typeof renderWorkloadEntry>) => {
  const result = renderWorkloadEntry(...args);
  if (!result.ok) throw new Error(result.refusal.message);
  return result.entry;
};

describe('Function: renderWorkloadEntry()', () => {
  it('renders the contract: name, address, locality, template, labels, annotations, owner', () => {
    const entry = render(facts(), group());
    expect(entry).toEqual({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: {
        name: 'reviews-i-1234567890abcdef0',
        namespace: 'bookinfo',
        labels: {
          app: 'reviews',
          'app.kubernetes.io/managed-by': 'istio-vm-registrar',
          'istio-vm-registrar.io/instance-id': 'i-1234567890abcdef0',
          tier: 'backend',
          version: 'v1',
        },
        annotations: {
          'istio-vm-registrar.io/account-id': '123456789012',
          'istio-vm-registrar.io/applied-hash': contentHash(entry),
          'istio-vm-registrar.io/autoscaling-group': 'my-asg',
          'istio-vm-registrar.io/launch-time': '2026-11-26T10:00:00.000Z',
        },
        ownerReferences: [
          {
            apiVersion: 'networking.istio.io/v1',
            kind: 'WorkloadGroup',
            name: 'reviews',
            uid: '2f8e4c9a-0000-4000-8000-000000000001',
            controller: true,
            blockOwnerDeletion: false,
          },
        ],
      },
      spec: {
        address: '10.0.1.17',
        labels: { app: 'reviews', tier: 'backend', version: 'v1' },
        locality: 'us-west-2/us-west-2b',
        ports: { http: 9080 },
        serviceAccount: 'reviews',
      },
    });
  });

  it('takes the network from the tag over the template, and keeps the template weight', () => {
    const entry = render(facts(), group({ template: { network: 'tpl-net', weight: 3 } }), {
      network: 'vm-net',
    });
    expect(entry.spec.network).toBe('vm-net');
    expect(entry.spec.weight).toBe(3);
    expect(render(facts(), group({ template: { network: 'tpl-net' } })).spec.network).toBe('tpl-net');
  });

  it('refuses sources the group does not allow', () => {
    const narrowed = group({
      annotations: { 'istio-vm-registrar.io/allowed-autoscaling-groups': 'other-asg' },
    });
    const result = renderWorkloadEntry(facts(), narrowed);
    expect(result.ok === false && result.refusal.reason).toBe('source-not-allowed');
    const allowed = group({
      annotations: { 'istio-vm-registrar.io/allowed-autoscaling-groups': 'x, my-asg' },
    });
    expect(renderWorkloadEntry(facts(), allowed).ok).toBe(true);
    const account = group({ annotations: { 'istio-vm-registrar.io/allowed-accounts': '999999999999' } });
    expect(renderWorkloadEntry(facts(), account).ok).toBe(false);
  });
});

describe('Function: entryMatches()', () => {
  it('matches a live copy with server fields and foreign additions', () => {
    const desired = render(facts(), group());
    const live = structuredClone(desired);
    live.metadata.uid = 'u';
    live.metadata.resourceVersion = '7';
    live.metadata.labels = { ...live.metadata.labels, extra: 'x' };
    expect(entryMatches(live, desired)).toBe(true);
  });

  it('does not match a changed address, a hand-edited label, a dropped field or a missing entry', () => {
    const desired = render(facts(), group());
    expect(entryMatches(undefined, desired)).toBe(false);
    expect(entryMatches(render(facts({ privateIpAddress: '10.0.9.9' }), group()), desired)).toBe(false);
    const edited = structuredClone(desired);
    edited.spec.labels = { ...edited.spec.labels, version: 'v2' };
    expect(entryMatches(edited, desired)).toBe(false);
    // The group stops setting a port: the hash differs, so the apply runs and prunes it.
    const older = render(
      facts(),
      group({ template: { ports: { http: 9080, grpc: 9090 }, serviceAccount: 'reviews' } }),
    );
    expect(entryMatches(older, desired)).toBe(false);
  });
});
