import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  ManifestError,
  NAMESPACED_RULES,
  renderRbacManifests,
  toYaml,
} from '../../../shared/manifests/rbac.ts';

describe('Function: renderRbacManifests()', () => {
  it('renders a Role and a RoleBinding per namespace and nothing cluster-wide', () => {
    // Prepare / Act
    const objects = renderRbacManifests({ namespaces: ['reviews', 'payments'], group: 'istio-vm-registrar' });

    // Assess
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      'Role/payments/istio-vm-registrar',
      'RoleBinding/payments/istio-vm-registrar',
      'Role/reviews/istio-vm-registrar',
      'RoleBinding/reviews/istio-vm-registrar',
    ]);
  });

  it('grants in each namespace exactly the calls the functions make, and nothing else', () => {
    const [role] = renderRbacManifests({ namespaces: ['payments'], group: 'g' });
    expect(role?.rules).toEqual([
      {
        apiGroups: ['networking.istio.io'],
        resources: ['workloadentries'],
        verbs: ['get', 'list', 'create', 'patch', 'delete'],
      },
      { apiGroups: ['networking.istio.io'], resources: ['workloadgroups'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      {
        apiGroups: ['networking.istio.io'],
        resources: ['serviceentries'],
        verbs: ['get', 'list', 'create', 'patch', 'delete'],
      },
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: ['list', 'create', 'update', 'delete'],
      },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    expect(role?.rules).toBe(NAMESPACED_RULES);
  });

  it('binds every role to the given group', () => {
    for (const binding of renderRbacManifests({ namespaces: ['a', 'b'], group: 'vm-registrars' }).filter(
      (o) => o.kind.endsWith('Binding'),
    )) {
      expect(binding.subjects).toEqual([
        { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'vm-registrars' },
      ]);
      expect((binding.roleRef as { name: string }).name).toBe(binding.metadata.name);
    }
  });

  it('uses serviceName for object names and labels, and never the registrar managed-by label', () => {
    const objects = renderRbacManifests({ namespaces: ['a'], group: 'g', serviceName: 'vm-reg' });
    expect(objects.map((o) => o.metadata.name)).toEqual(['vm-reg', 'vm-reg']);
    for (const object of objects) {
      expect(object.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'vm-reg',
        'app.kubernetes.io/part-of': 'istio-vm-registrar',
      });
    }
  });

  it('de-duplicates namespaces and turns "*" into a cluster-wide writer', () => {
    expect(renderRbacManifests({ namespaces: ['a', 'a'], group: 'g' })).toHaveLength(2);
    const wildcard = renderRbacManifests({ namespaces: ['*'], group: 'g' });
    expect(wildcard.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ClusterRole/istio-vm-registrar-writer',
      'ClusterRoleBinding/istio-vm-registrar-writer',
    ]);
    expect(wildcard[0]?.rules).toBe(NAMESPACED_RULES);
  });

  it('refuses namespaces, groups and names Kubernetes or EKS would reject, listing every problem', () => {
    const render = () => renderRbacManifests({ namespaces: ['Payments', 'ok', ''], group: 'system:masters' });
    expect(render).toThrow(ManifestError);
    expect(render).toThrow(
      /namespace "Payments" is not a DNS-1123 label.*namespace "" is not.*reserved prefix "system:"/,
    );
    expect(() => renderRbacManifests({ namespaces: [], group: 'g' })).toThrow(/at least one namespace/);
    expect(() => renderRbacManifests({ namespaces: ['a'], group: ' ' })).toThrow(/group must not be empty/);
    expect(() => renderRbacManifests({ namespaces: ['a'], group: 'g', serviceName: 'Bad Name' })).toThrow(
      /serviceName/,
    );
  });
});

describe('Function: toYaml()', () => {
  it('writes one YAML document per object that reads back to the same objects', () => {
    const objects = renderRbacManifests({ namespaces: ['a', 'b'], group: 'g' });
    const yaml = toYaml(objects);
    expect(yaml.split(/^---$/m)).toHaveLength(objects.length);
    expect(loadAll(yaml)).toEqual(JSON.parse(JSON.stringify(objects)));
    expect(yaml).not.toContain('&'); // no YAML anchors for the shared rule and label objects
  });

  it('quotes strings YAML 1.1 would misread', () => {
    expect(toYaml([{ a: 'on', b: 'yes', c: '1.0', d: '*' }])).toBe("a: 'on'\nb: 'yes'\nc: '1.0'\nd: '*'\n");
  });
});
