import { describe, expect, it } from 'vitest';
import { parseBootstrapGroup } from '../../../shared/config/bootstrap-config.ts';
import { BOOTSTRAP_CALLS, renderBootstrapRbacManifests } from '../../../shared/manifests/bootstrap-rbac.ts';
import { ManifestError } from '../../../shared/manifests/kubernetes.ts';

const groups = ['bookinfo/reviews:reviews', 'bookinfo/ratings', 'payments/ledger:ledger'].map(
  parseBootstrapGroup,
);

describe('Function: renderBootstrapRbacManifests()', () => {
  it('grants each namespace exactly its calls, every rule narrowed by resourceNames', () => {
    const objects = renderBootstrapRbacManifests({ groups });
    const roles = Object.fromEntries(
      objects.filter((o) => o.kind === 'Role').map((o) => [o.metadata.namespace, o.rules]),
    );
    expect(roles).toEqual({
      bookinfo: [
        {
          apiGroups: ['networking.istio.io'],
          resources: ['workloadgroups'],
          verbs: ['get'],
          resourceNames: ['ratings', 'reviews'],
        },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['istio-ca-root-cert'] },
        {
          apiGroups: [''],
          resources: ['serviceaccounts/token'],
          verbs: ['create'],
          resourceNames: ['default', 'reviews'],
        },
      ],
      'istio-system': [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['istio'] },
      ],
      payments: [
        {
          apiGroups: ['networking.istio.io'],
          resources: ['workloadgroups'],
          verbs: ['get'],
          resourceNames: ['ledger'],
        },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['istio-ca-root-cert'] },
        {
          apiGroups: [''],
          resources: ['serviceaccounts/token'],
          verbs: ['create'],
          resourceNames: ['ledger'],
        },
      ],
    });
    expect(objects.filter((o) => o.kind === 'RoleBinding').map((o) => o.subjects)).toEqual(
      Array(3).fill([
        { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'istio-vm-registrar-bootstrap' },
      ]),
    );
    expect(objects.some((o) => o.kind.startsWith('Cluster'))).toBe(false);
  });

  it('merges the two ConfigMaps into one rule when a group lives in the control-plane namespace', () => {
    const objects = renderBootstrapRbacManifests({
      groups: [parseBootstrapGroup('mesh/gw:gw')],
      controlPlaneNamespace: 'mesh',
    });
    expect(objects.find((o) => o.kind === 'Role')?.rules).toContainEqual({
      apiGroups: [''],
      resources: ['configmaps'],
      verbs: ['get'],
      resourceNames: ['istio', 'istio-ca-root-cert'],
    });
  });

  it('covers every call in BOOTSTRAP_CALLS, and refuses no groups or a reserved Kubernetes group', () => {
    const resources = renderBootstrapRbacManifests({ groups }).flatMap((o) =>
      ((o.rules as Array<{ resources: string[]; verbs: string[] }> | undefined) ?? []).map(
        (r) => `${r.resources[0]}:${r.verbs[0]}`,
      ),
    );
    for (const call of BOOTSTRAP_CALLS) expect(resources).toContain(`${call.resource}:${call.verb}`);
    expect(() => renderBootstrapRbacManifests({ groups: [] })).toThrow(ManifestError);
    expect(() => renderBootstrapRbacManifests({ groups, kubernetesGroup: 'system:masters' })).toThrow(
      /reserves/,
    );
  });
});
