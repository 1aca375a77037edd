/**
 * Kubernetes RBAC for the registrar and reconciler functions.
 *
 * The functions authenticate as their IAM roles; an EKS access entry (infra/constructs/cluster-access.ts)
 * maps both roles to one Kubernetes group and grants no EKS access policy, so these objects are the
 * whole of what the functions may do in the cluster. `vm-registrar rbac` prints them; the CDK stack
 * can apply them itself (`applyRbac`).
 */
import {
  DISCOVERY_GROUP,
  EVENTS_GROUP,
  ISTIO_NETWORKING_GROUP,
  MANAGED_BY_VALUE,
  SERVICE_ENTRY_PLURAL,
  WORKLOAD_ENTRY_PLURAL,
  WORKLOAD_GROUP_PLURAL,
} from '../constants.ts';
import {
  isDns1123Label,
  isDns1123Subdomain,
  type KubernetesObject,
  ManifestError,
  PART_OF_LABELS,
} from './kubernetes.ts';

export { type KubernetesObject, ManifestError, toYaml } from './kubernetes.ts';

/** Default Kubernetes group the EKS access entry puts the functions' roles in. */
export const DEFAULT_KUBERNETES_GROUP = 'istio-vm-registrar';

export interface RbacOptions {
  /**
   * Namespaces the registrar may write into (the functions' ALLOWED_NAMESPACES). One Role and one
   * RoleBinding are rendered per namespace. `*` grants the write rules cluster-wide instead (not
   * recommended: the registrar could then create entries in any namespace).
   */
  readonly namespaces: readonly string[];
  /** Kubernetes group the functions' IAM roles are mapped to by the EKS access entry. */
  readonly group: string;
  /**
   * Name of the Roles, ClusterRole and bindings, and the `app.kubernetes.io/name` label.
   * @default 'istio-vm-registrar'
   */
  readonly serviceName?: string;
}

interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

const RBAC_VERSION = 'rbac.authorization.k8s.io/v1';
/**
 * Exactly the calls the functions make: WorkloadEntries are read (get, label-selected list), written
 * by server-side apply (patch; create for an apply that creates) and deleted; WorkloadGroups are read.
 * Services, ServiceEntries and EndpointSlices likewise, for the Services the registrar keeps for
 * VM workloads (it only ever changes or deletes those labelled managed-by). Nothing else: no
 * Secrets, Pods or other workloads.
 */
export const NAMESPACED_RULES: readonly PolicyRule[] = [
  {
    apiGroups: [ISTIO_NETWORKING_GROUP],
    resources: [WORKLOAD_ENTRY_PLURAL],
    verbs: ['get', 'list', 'create', 'patch', 'delete'],
  },
  { apiGroups: [ISTIO_NETWORKING_GROUP], resources: [WORKLOAD_GROUP_PLURAL], verbs: ['get', 'list'] },
  // Services for VM workloads (shared/adapters/kube-services.ts): Services and ServiceEntries read
  // (get by name, label-selected list), written by server-side apply and deleted; EndpointSlices of
  // the direct Services listed, created, replaced under a resourceVersion precondition and deleted.
  { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
  {
    apiGroups: [ISTIO_NETWORKING_GROUP],
    resources: [SERVICE_ENTRY_PLURAL],
    verbs: ['get', 'list', 'create', 'patch', 'delete'],
  },
  {
    apiGroups: [DISCOVERY_GROUP],
    resources: ['endpointslices'],
    verbs: ['list', 'create', 'update', 'delete'],
  },
  // Kubernetes Events (shared/adapters/kube-events.ts): created, and a repeat counted in its series
  // by a merge patch. Never read: `vm-registrar status` reads them with the operator's credentials.
  { apiGroups: [EVENTS_GROUP], resources: ['events'], verbs: ['create', 'patch'] },
];

/**
 * Renders the RBAC objects for the functions' Kubernetes group: a Role + RoleBinding per allowed
 * namespace, or, for `*` only, one ClusterRole + ClusterRoleBinding (the only case that lists across
 * namespaces).
 *
 * @throws {ManifestError} when a namespace is not a DNS-1123 label (or `*`), the list is empty, or
 *   the group or name is unusable.
 */
export function renderRbacManifests(options: RbacOptions): KubernetesObject[] {
  const name = options.serviceName ?? MANAGED_BY_VALUE;
  const namespaces = [...new Set(options.namespaces.map((namespace) => namespace.trim()))];
  validate(namespaces, options.group, name);

  const labels = { 'app.kubernetes.io/name': name, ...PART_OF_LABELS };
  const subjects = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: options.group }];
  const objects: KubernetesObject[] = [];

  if (namespaces.includes('*')) {
    const writer = `${name}-writer`;
    objects.push(
      {
        apiVersion: RBAC_VERSION,
        kind: 'ClusterRole',
        metadata: { name: writer, labels },
        rules: NAMESPACED_RULES,
      },
      {
        apiVersion: RBAC_VERSION,
        kind: 'ClusterRoleBinding',
        metadata: { name: writer, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: writer },
        subjects,
      },
    );
  } else {
    for (const namespace of [...namespaces].sort()) {
      objects.push(
        {
          apiVersion: RBAC_VERSION,
          kind: 'Role',
          metadata: { name, namespace, labels },
          rules: NAMESPACED_RULES,
        },
        {
          apiVersion: RBAC_VERSION,
          kind: 'RoleBinding',
          metadata: { name, namespace, labels },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
          subjects,
        },
      );
    }
  }

  return objects;
}

/** Prefixes EKS refuses in an access entry's Kubernetes groups. */
const RESERVED_GROUP_PREFIXES = ['system:', 'eks:', 'aws:', 'amazon:', 'iam:'];

function validate(namespaces: readonly string[], group: string, name: string): void {
  const problems: string[] = [];
  if (namespaces.length === 0) problems.push('namespaces must name at least one namespace');
  for (const namespace of namespaces) {
    if (namespace !== '*' && !isDns1123Label(namespace)) {
      problems.push(`namespace "${namespace}" is not a DNS-1123 label`);
    }
  }
  if (group.trim() === '') problems.push('group must not be empty');
  const reserved = RESERVED_GROUP_PREFIXES.find((prefix) => group.startsWith(prefix));
  if (reserved) problems.push(`group "${group}" starts with the reserved prefix "${reserved}"`);
  // The `-writer` suffix must still fit in a DNS-1123 subdomain.
  if (!isDns1123Subdomain(name) || name.length > 240) {
    problems.push(`serviceName "${name}" is not a DNS-1123 subdomain of at most 240 characters`);
  }
  if (problems.length > 0) throw new ManifestError('renderRbacManifests', problems);
}
