import { dump, load } from 'js-yaml';
import type { WorkloadGroupView } from './types.ts';
import { workloadEntryName } from './workload-entry.ts';

/**
 * The files a VM needs to join the mesh, rendered per WorkloadGroup: what
 * `istioctl x workload entry configure` writes (istioctl/pkg/workload/workload.go), from the same
 * inputs, with the differences below on purpose. README.md ("VM bootstrap") compares them key by key.
 *
 * | file            | source                                                             | installed at (VM)               |
 * |-----------------|--------------------------------------------------------------------|---------------------------------|
 * | `cluster.env`   | proxy metadata (below) + inbound ports, namespace, service, SA      | `/var/lib/istio/envoy/cluster.env` |
 * | `mesh.yaml`     | `defaultConfig` of the `istio` ConfigMap, `proxy.istio.io/config`    | `/etc/istio/config/mesh`        |
 * |                 | annotations, proxy metadata, the group's readiness `probe`          |                                 |
 * | `root-cert.pem` | `root-cert.pem` of the `istio-ca-root-cert` ConfigMap (group ns)    | `/etc/certs/root-cert.pem`      |
 * | `hosts`         | one `<gateway address> <istiod host>` line per current address      | `/etc/hosts` (managed block),   |
 * |                 | (never empty: no address refuses the bundle)                        | unless the VPC resolves the zone |
 * | `bootstrap.env` | ours: Istio version, istiod host, gateway DNS name and addresses,   | read by the user-data script    |
 * |                 | VPCs associated with the private hosted zone                        |                                 |
 * | `istio-token`   | TokenRequest, audience `istio-ca` (token-rotation.ts)               | `/var/lib/istio/tokens/istio-token` |
 *
 * | input                                   | outcome                                                      |
 * |-----------------------------------------|--------------------------------------------------------------|
 * | `mesh` key not YAML / not a mapping     | refused: `mesh-config-invalid`                               |
 * | `proxy.istio.io/config` not a mapping   | refused: `mesh-config-invalid`                               |
 * | no `root-cert.pem`                      | refused: `root-cert-missing`                                 |
 * | multi-network, group template without a network | refused: `network-missing` (the VM's network names it) |
 * | no gateway address                      | refused: `gateway-unresolved` (a hosts file is never empty)  |
 * | template without `serviceAccount`       | `default`, the account Istio gives such an entry             |
 *
 * Per instance, on the VM (`instanceClusterEnv`): `ISTIO_META_WORKLOAD_ENTRY` = the entry name the
 * registrar gives the instance (`<group>-<instance-id>`, so istiod reports that entry's health) and
 * `ISTIO_SVC_IP` = the primary private IPv4 (the entry's address; istiod matches proxy and entry by it).
 */

export type MeshArchitecture = 'single-network' | 'multi-network';

/** Why a group's bundle or token cannot be refreshed; the `Reason` of metric BootstrapRefreshFailed. */
export const BootstrapProblem = {
  MeshConfigInvalid: 'mesh-config-invalid',
  RootCertMissing: 'root-cert-missing',
  NetworkMissing: 'network-missing',
  GatewayUnresolved: 'gateway-unresolved',
  ConfigInvalid: 'bootstrap-config-invalid',
  WorkloadGroupNotFound: 'workload-group-not-found',
  ServiceAccountMismatch: 'service-account-mismatch',
  ConfigMapNotFound: 'configmap-not-found',
  TokenRequestFailed: 'token-request-failed',
  KubernetesFailed: 'kubernetes-failed',
  ParameterStoreFailed: 'parameter-store-failed',
} as const;
export type BootstrapProblem = (typeof BootstrapProblem)[keyof typeof BootstrapProblem];

export interface BootstrapRefusal {
  readonly reason: BootstrapProblem;
  readonly message: string;
}

/** A WorkloadGroup as the bootstrap needs it: the registrar's view plus the readiness probe. */
export interface BootstrapGroup extends WorkloadGroupView {
  /** `spec.probe`: becomes `readinessProbe` in the proxy config (istiod then reports entry health). */
  readonly probe?: Readonly<Record<string, unknown>>;
}

/** A WorkloadGroup object as the API returns it (any served version), read for the bootstrap. */
export function toBootstrapGroup(raw: {
  apiVersion?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string> };
  spec?: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    template?: Record<string, unknown>;
    probe?: Record<string, unknown>;
  };
}): BootstrapGroup {
  const spec = raw.spec ?? {};
  return {
    namespace: raw.metadata?.namespace ?? '',
    name: raw.metadata?.name ?? '',
    uid: raw.metadata?.uid ?? '',
    apiVersion: raw.apiVersion ?? 'networking.istio.io/v1',
    annotations: raw.metadata?.annotations ?? {},
    entryMetadata: { labels: spec.metadata?.labels ?? {}, annotations: spec.metadata?.annotations ?? {} },
    template: { ...(spec.template ?? {}) },
    ...(spec.probe ? { probe: spec.probe } : {}),
  };
}

/** Where the VM finds istiod: the east-west gateway, by the private zone's name or by address. */
export interface GatewayAddressing {
  /** DNS name of the gateway: the NLB, or the interface endpoint (multi-network). */
  readonly dnsName: string;
  /** Its current IPv4 addresses (the seed of the hosts entry; the VM re-resolves `dnsName`). */
  readonly addresses: readonly string[];
  /** VPCs associated with the private hosted zone: VMs there resolve istiod by name, no hosts entry. */
  readonly zoneVpcIds: readonly string[];
}

export interface BundleInput {
  readonly group: BootstrapGroup;
  /** `data.mesh` of the `istio` ConfigMap in the control-plane namespace (MeshConfig YAML). */
  readonly meshConfig: string | undefined;
  /** `data["root-cert.pem"]` of the `istio-ca-root-cert` ConfigMap in the group's namespace. */
  readonly rootCert: string | undefined;
  /** The cluster's id in the mesh (`values.global.multiCluster.clusterName`; Istio's default `Kubernetes`). */
  readonly clusterId: string;
  readonly architecture: MeshArchitecture;
  /** Namespace of istiod; the VM reaches `istiod.<namespace>.svc`. */
  readonly controlPlaneNamespace: string;
  readonly gateway: GatewayAddressing;
  /** Istio version of the mesh: the sidecar package the VM installs. */
  readonly istioVersion: string;
}

/** Bundle file names, as stored (one SSM parameter each) and as istioctl names them. */
export const BUNDLE_FILES = ['cluster.env', 'mesh.yaml', 'root-cert.pem', 'hosts', 'bootstrap.env'] as const;
export type BundleFile = (typeof BUNDLE_FILES)[number];
export type BootstrapBundle = Readonly<Record<BundleFile, string>>;

/** istiod's port for xDS and certificate signing. */
export const ISTIOD_PORT = 15012;
/** Istio's root certificate ConfigMap, in every namespace (istiod's namespace controller writes it). */
export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';
/** The mesh config ConfigMap in the control-plane namespace (no revisions). */
export const MESH_CONFIGMAP = 'istio';
export const MESH_CONFIG_KEY = 'mesh';
/** Annotation carrying ProxyConfig overrides, on the group and in its `spec.metadata`. */
export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config';
/** Istio's default service account for an entry that names none. */
export const DEFAULT_SERVICE_ACCOUNT = 'default';

/** The host istiod's certificate is issued for, which the VM must use (TLS passes through the gateway). */
export function istiodHost(controlPlaneNamespace: string): string {
  return `istiod.${controlPlaneNamespace}.svc`;
}

/** The group's service account: the template's, or Istio's `default`. */
export function groupServiceAccount(group: Pick<WorkloadGroupView, 'template'>): string {
  return group.template.serviceAccount || DEFAULT_SERVICE_ACCOUNT;
}

/** `shellescape.Quote` of istio/pkg/util/shellescape: bare when safe, else single-quoted. */
export function shellQuote(value: string): string {
  if (value.length === 0) return "''";
  if (/[^\w@%+=:,./-]/.test(value)) return `'${value.replaceAll("'", `'"'"'`)}'`;
  return value;
}

/** `KEY=value` lines, sorted, each value shell-quoted: istioctl's `mapToString`. */
export function envFile(values: Readonly<Record<string, string>>): string {
  const lines = Object.entries(values).map(([key, value]) => `${key}=${shellQuote(value)}`);
  lines.sort();
  return `${lines.join('\n')}\n`;
}

/** `labels.CanonicalService` of istio/pkg/kube/labels. */
export function canonicalService(
  labels: Readonly<Record<string, string>>,
  workloadName: string,
): { name: string; revision: string } {
  const first = (keys: readonly string[]) => keys.map((k) => labels[k]).find((v) => v !== undefined);
  return {
    name: first(['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app']) ?? workloadName,
    revision:
      first(['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version']) ?? 'latest',
  };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+-]*$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse(reason: BootstrapProblem, message: string): { ok: false; refusal: BootstrapRefusal } {
  return { ok: false, refusal: { reason, message } };
}

function parseMapping(text: string, what: string): Record<string, unknown> | string {
  let parsed: unknown;
  try {
    parsed = load(text);
  } catch (error) {
    return `${what} is not YAML: ${(error as Error).message.split('\n')[0]}`;
  }
  if (parsed === undefined || parsed === null) return {};
  if (!isMapping(parsed)) return `${what} is not a mapping`;
  return parsed;
}

/** Renders the group's bundle, or says why it cannot be rendered. */
export function renderBootstrapBundle(
  input: BundleInput,
): { ok: true; bundle: BootstrapBundle } | { ok: false; refusal: BootstrapRefusal } {
  const { group } = input;
  const where = `${group.namespace}/${group.name}`;
  const mesh = parseMapping(
    input.meshConfig ?? '',
    `the "${MESH_CONFIG_KEY}" key of ConfigMap ${MESH_CONFIGMAP}`,
  );
  if (typeof mesh === 'string') return refuse(BootstrapProblem.MeshConfigInvalid, mesh);
  if (mesh.defaultConfig !== undefined && !isMapping(mesh.defaultConfig)) {
    return refuse(
      BootstrapProblem.MeshConfigInvalid,
      `defaultConfig of ConfigMap ${MESH_CONFIGMAP} is not a mapping`,
    );
  }
  if (!input.rootCert?.trim()) {
    return refuse(
      BootstrapProblem.RootCertMissing,
      `ConfigMap ${ROOT_CERT_CONFIGMAP} in ${group.namespace} has no ${ROOT_CERT_KEY} (istiod writes it into every namespace)`,
    );
  }
  const network = group.template.network ?? '';
  if (input.architecture === 'multi-network' && network === '') {
    return refuse(
      BootstrapProblem.NetworkMissing,
      `${where}: a multi-network mesh needs the VMs' network in spec.template.network`,
    );
  }
  const addresses = [...new Set(input.gateway.addresses)].filter((a) => IPV4.test(a)).sort();
  if (addresses.length === 0) {
    return refuse(
      BootstrapProblem.GatewayUnresolved,
      `the gateway ${input.gateway.dnsName} has no IPv4 address: no hosts entry can be written`,
    );
  }

  // ProxyConfig: the mesh's defaultConfig, then proxy.istio.io/config on the group and in its
  // spec.metadata (field by field, proxyMetadata merged key by key), as istioctl applies them.
  const proxyConfig: Record<string, unknown> = {
    ...(mesh.defaultConfig as Record<string, unknown> | undefined),
  };
  const metadata: Record<string, string> = { ...stringMap(proxyConfig.proxyMetadata) };
  for (const annotations of [group.annotations, group.entryMetadata.annotations]) {
    const yaml = annotations[PROXY_CONFIG_ANNOTATION];
    if (yaml === undefined) continue;
    const override = parseMapping(yaml, `annotation ${PROXY_CONFIG_ANNOTATION} of ${where}`);
    if (typeof override === 'string') return refuse(BootstrapProblem.MeshConfigInvalid, override);
    Object.assign(proxyConfig, override);
    Object.assign(metadata, stringMap(override.proxyMetadata));
  }
  if (group.probe !== undefined) proxyConfig.readinessProbe = group.probe;
  else delete proxyConfig.readinessProbe;

  // Labels in the registrar's precedence (group metadata over template), so the proxy's labels are
  // the entry's labels.
  const labels: Record<string, string> = { ...group.template.labels, ...group.entryMetadata.labels };
  const canonical = canonicalService(labels, group.name);
  const serviceAccount = groupServiceAccount(group);
  Object.assign(metadata, {
    CANONICAL_SERVICE: canonical.name,
    CANONICAL_REVISION: canonical.revision,
    POD_NAMESPACE: group.namespace,
    SERVICE_ACCOUNT: serviceAccount,
    TRUST_DOMAIN: typeof mesh.trustDomain === 'string' ? mesh.trustDomain : '',
    ISTIO_META_CLUSTER_ID: input.clusterId,
    ISTIO_META_MESH_ID: typeof proxyConfig.meshId === 'string' ? proxyConfig.meshId : '',
    ISTIO_META_NETWORK: network,
    ISTIO_META_WORKLOAD_NAME: group.name,
    ISTIO_METAJSON_LABELS: goJson({
      ...labels,
      'service.istio.io/canonical-name': canonical.name,
      'service.istio.io/canonical-revision': canonical.revision,
    }),
    ISTIO_META_DNS_CAPTURE: 'true',
  });
  const ports = Object.entries(group.template.ports ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (ports.length > 0) {
    metadata.ISTIO_META_POD_PORTS = JSON.stringify(
      ports.map(([name, containerPort]) => ({ name, containerPort, protocol: '' })),
    );
  }
  proxyConfig.proxyMetadata = metadata;

  const statusPort = typeof proxyConfig.statusPort === 'number' ? proxyConfig.statusPort : 0;
  const excludePorts = ['22', '15090', '15021'];
  if (statusPort !== 15090 && statusPort !== 15021) excludePorts.push(String(statusPort || 15020));
  const inboundPorts = [...new Set(ports.map(([, port]) => port))].sort((a, b) => a - b);
  const clusterEnv = envFile({
    ...metadata,
    ISTIO_INBOUND_PORTS: inboundPorts.length > 0 ? inboundPorts.join(',') : '*',
    ISTIO_NAMESPACE: group.namespace,
    ISTIO_SERVICE: `${group.name}.${group.namespace}`,
    ISTIO_SERVICE_CIDR: '*',
    ISTIO_LOCAL_EXCLUDE_PORTS: excludePorts.join(','),
    SERVICE_ACCOUNT: serviceAccount,
  });

  const host = istiodHost(input.controlPlaneNamespace);
  const bootstrap = renderBootstrapEnv({
    istioVersion: input.istioVersion,
    istiodHost: host,
    gateway: { ...input.gateway, addresses },
    group: where,
  });
  if (typeof bootstrap !== 'string') return { ok: false, refusal: bootstrap };
  return {
    ok: true,
    bundle: {
      'cluster.env': clusterEnv,
      'mesh.yaml': dump({ defaultConfig: proxyConfig }, { sortKeys: true, noRefs: true, lineWidth: -1 }),
      'root-cert.pem': input.rootCert.endsWith('\n') ? input.rootCert : `${input.rootCert}\n`,
      hosts: renderHosts(addresses, host),
      'bootstrap.env': bootstrap,
    },
  };
}

/** The hosts entries: one line per gateway address, all naming istiod. */
export function renderHosts(addresses: readonly string[], host: string): string {
  return addresses.map((address) => `${address} ${host}\n`).join('');
}

/** Keys of `bootstrap.env`; the user-data script reads exactly these. */
export const BOOTSTRAP_ENV_KEYS = [
  'WORKLOAD_GROUP',
  'ISTIO_VERSION',
  'ISTIOD_HOST',
  'GATEWAY_DNS_NAME',
  'GATEWAY_ADDRESSES',
  'ZONE_VPC_IDS',
] as const;

function renderBootstrapEnv(input: {
  istioVersion: string;
  istiodHost: string;
  gateway: GatewayAddressing;
  group: string;
}): string | BootstrapRefusal {
  // The script parses this file instead of sourcing it: every value must stay a plain word.
  const problems: string[] = [];
  if (!VERSION.test(input.istioVersion)) problems.push(`Istio version "${input.istioVersion}"`);
  if (!DNS_NAME.test(input.gateway.dnsName)) problems.push(`gateway DNS name "${input.gateway.dnsName}"`);
  for (const id of input.gateway.zoneVpcIds) if (!VPC_ID.test(id)) problems.push(`VPC id "${id}"`);
  if (problems.length > 0) {
    return { reason: BootstrapProblem.ConfigInvalid, message: `not usable on a VM: ${problems.join(', ')}` };
  }
  return envFile({
    WORKLOAD_GROUP: input.group,
    ISTIO_VERSION: input.istioVersion,
    ISTIOD_HOST: input.istiodHost,
    GATEWAY_DNS_NAME: input.gateway.dnsName,
    GATEWAY_ADDRESSES: input.gateway.addresses.join(','),
    ZONE_VPC_IDS: [...input.gateway.zoneVpcIds].sort().join(','),
  });
}

/** Reads `bootstrap.env` back (known keys only), as the user-data script does. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    const raw = match[2]!;
    out[match[1]!] =
      raw.startsWith("'") && raw.endsWith("'") ? raw.slice(1, -1).replaceAll(`'"'"'`, "'") : raw;
  }
  return out;
}

/**
 * `cluster.env` as installed on one instance: the group's file, then the entry name the registrar
 * gives this instance and its primary private IPv4. The user-data script appends the same two lines.
 */
export function instanceClusterEnv(
  clusterEnv: string,
  instance: { readonly groupName: string; readonly instanceId: string; readonly privateIp: string },
): string {
  return (
    clusterEnv +
    `ISTIO_META_WORKLOAD_ENTRY=${shellQuote(workloadEntryName(instance.groupName, instance.instanceId))}\n` +
    `ISTIO_SVC_IP=${shellQuote(instance.privateIp)}\n`
  );
}

function stringMap(value: unknown): Record<string, string> {
  if (!isMapping(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

/** encoding/json of a map[string]string: keys sorted, `<`, `>`, `&` escaped as Go does. */
function goJson(map: Readonly<Record<string, string>>): string {
  const sorted = Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(sorted)
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026');
}
