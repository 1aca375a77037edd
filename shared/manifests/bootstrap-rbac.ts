/**
 * Kubernetes RBAC of the VM bootstrap function: exactly the calls `shared/adapters/kube-bootstrap.ts`
 * makes, each narrowed by name. The function's IAM role is mapped (EKS access entry) to its own
 * Kubernetes group, so the registrar's roles never get tokens and this one never writes entries.
 *
 * | call                                   | where                      | names                        |
 * |----------------------------------------|----------------------------|------------------------------|
 * | get workloadgroups (networking.istio.io) | each opted-in group's namespace | the opted-in groups       |
 * | get configmaps                         | each opted-in group's namespace | `istio-ca-root-cert`      |
 * | get configmaps                         | the control-plane namespace | `istio`                      |
 * | create serviceaccounts/token           | each opted-in group's namespace | the groups' service accounts |
 *
 * `vm-registrar bootstrap rbac` prints it; the CDK stack can apply it (`applyRbac`).
 */
import type { BootstrapGroupRef } from '../config/bootstrap-config.ts';
import { ISTIO_NETWORKING_GROUP, MANAGED_BY_VALUE, WORKLOAD_GROUP_PLURAL } from '../constants.ts';
import { MESH_CONFIGMAP, ROOT_CERT_CONFIGMAP } from '../domain/bootstrap.ts';
import { isDns1123Label, type KubernetesObject, ManifestError, PART_OF_LABELS } from './kubernetes.ts';

/** Kubernetes group the bootstrap function's role is mapped to. */
export const DEFAULT_BOOTSTRAP_KUBERNETES_GROUP = 'istio-vm-registrar-bootstrap';

/** Where a call is made and which names it needs. */
type Scope = 'group' | 'group-namespace' | 'control-plane' | 'service-account';

/** The calls the bootstrap makes: the one list the Roles are rendered from. */
export const BOOTSTRAP_CALLS: ReadonlyArray<{
  readonly apiGroup: string;
  readonly resource: string;
  readonly verb: string;
  readonly scope: Scope;
  /** Fixed names (ConfigMaps); the others come from the opted-in groups. */
  readonly names?: readonly string[];
}> = [
  { apiGroup: ISTIO_NETWORKING_GROUP, resource: WORKLOAD_GROUP_PLURAL, verb: 'get', scope: 'group' },
  {
    apiGroup: '',
    resource: 'configmaps',
    verb: 'get',
    scope: 'group-namespace',
    names: [ROOT_CERT_CONFIGMAP],
  },
  { apiGroup: '', resource: 'configmaps', verb: 'get', scope: 'control-plane', names: [MESH_CONFIGMAP] },
  { apiGroup: '', resource: 'serviceaccounts/token', verb: 'create', scope: 'service-account' },
];

export interface BootstrapRbacOptions {
  /** The opted-in groups with their service accounts (BOOTSTRAP_GROUPS). */
  readonly groups: readonly BootstrapGroupRef[];
  /** @default 'istio-system' */
  readonly controlPlaneNamespace?: string;
  /** @default 'istio-vm-registrar-bootstrap' */
  readonly kubernetesGroup?: string;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames: string[];
}

const RBAC_VERSION = 'rbac.authorization.k8s.io/v1';
const NAME = `${MANAGED_BY_VALUE}-bootstrap`;

/**
 * A Role and RoleBinding per namespace involved: every rule carries `resourceNames`, so the function
 * can mint tokens for the opted-in groups' service accounts only, and read two ConfigMaps only.
 * @throws {ManifestError} without groups, or with a bad namespace or group name.
 */
export function renderBootstrapRbacManifests(options: BootstrapRbacOptions): KubernetesObject[] {
  const controlPlane = options.controlPlaneNamespace ?? 'istio-system';
  const subjectGroup = options.kubernetesGroup ?? DEFAULT_BOOTSTRAP_KUBERNETES_GROUP;
  const problems: string[] = [];
  if (options.groups.length === 0) problems.push('name at least one group (NS/NAME[:SERVICEACCOUNT])');
  if (!isDns1123Label(controlPlane))
    problems.push(`control-plane namespace "${controlPlane}" is not a DNS-1123 label`);
  if (subjectGroup.trim() === '' || /^(system|eks|aws|amazon|iam):/.test(subjectGroup)) {
    problems.push(`Kubernetes group "${subjectGroup}" is empty or uses a prefix EKS reserves`);
  }
  if (problems.length > 0) throw new ManifestError('renderBootstrapRbacManifests', problems);

  const rules = new Map<string, Map<string, Rule>>();
  const add = (namespace: string, call: (typeof BOOTSTRAP_CALLS)[number], name: string) => {
    const byNamespace = rules.get(namespace) ?? new Map<string, Rule>();
    rules.set(namespace, byNamespace);
    const key = `${call.apiGroup}|${call.resource}|${call.verb}`;
    const rule = byNamespace.get(key) ?? {
      apiGroups: [call.apiGroup],
      resources: [call.resource],
      verbs: [call.verb],
      resourceNames: [],
    };
    if (!rule.resourceNames.includes(name)) rule.resourceNames.push(name);
    byNamespace.set(key, rule);
  };
  for (const call of BOOTSTRAP_CALLS) {
    if (call.scope === 'control-plane') {
      for (const name of call.names ?? []) add(controlPlane, call, name);
      continue;
    }
    for (const group of options.groups) {
      const names =
        call.scope === 'group'
          ? [group.name]
          : call.scope === 'service-account'
            ? [group.serviceAccount]
            : [...(call.names ?? [])];
      for (const name of names) add(group.namespace, call, name);
    }
  }

  const labels = { 'app.kubernetes.io/name': NAME, ...PART_OF_LABELS };
  const objects: KubernetesObject[] = [];
  for (const namespace of [...rules.keys()].sort()) {
    const namespaceRules = [...rules.get(namespace)!.values()].map((rule) => ({
      ...rule,
      resourceNames: [...rule.resourceNames].sort(),
    }));
    objects.push(
      {
        apiVersion: RBAC_VERSION,
        kind: 'Role',
        metadata: { name: NAME, namespace, labels },
        rules: namespaceRules,
      },
      {
        apiVersion: RBAC_VERSION,
        kind: 'RoleBinding',
        metadata: { name: NAME, namespace, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: NAME },
        subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: subjectGroup }],
      },
    );
  }
  return objects;
}
