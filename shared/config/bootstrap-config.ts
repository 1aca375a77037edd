import * as z from 'zod';
import { DEFAULT_SERVICE_ACCOUNT, type MeshArchitecture } from '../domain/bootstrap.ts';
import { parseGroupTag } from '../domain/decide.ts';
import { DEFAULT_TOKEN_LIFETIME_SECONDS, MIN_TOKEN_LIFETIME_SECONDS } from '../domain/token-rotation.ts';
import { type ClusterAccess, ConfigError, environmentSchema } from './config.ts';

/** Default SSM path under which each group's parameters live (`<prefix>/<namespace>/<name>/<file>`). */
export const DEFAULT_PARAMETER_PREFIX = '/istio-vm-registrar/bootstrap';

/** One group opted in to bootstrap, with the service account its tokens are for. */
export interface BootstrapGroupRef {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Parses `namespace/name` or `namespace/name:serviceaccount` (default service account `default`,
 * Istio's for an entry that names none). Throws a message naming the bad item.
 */
export function parseBootstrapGroup(value: string): BootstrapGroupRef {
  const [ref, account, ...extra] = value.trim().split(':');
  const group = parseGroupTag(ref ?? '');
  if ('reason' in group) throw new Error(`"${value}": ${group.message}`);
  const serviceAccount = account ?? DEFAULT_SERVICE_ACCOUNT;
  if (extra.length > 0 || serviceAccount.length > 253 || !DNS1123_SUBDOMAIN.test(serviceAccount)) {
    throw new Error(`"${value}": the service account after ":" must be a DNS-1123 subdomain`);
  }
  return { ...group, serviceAccount };
}

export function formatBootstrapGroup(group: BootstrapGroupRef): string {
  return `${group.namespace}/${group.name}:${group.serviceAccount}`;
}

/** The SSM path of a group's parameters. */
export function groupParameterPath(prefix: string, group: { namespace: string; name: string }): string {
  return `${prefix}/${group.namespace}/${group.name}`;
}

const csv = z.string().transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
);

/**
 * Environment of the bootstrap function (and `vm-registrar bootstrap` commands): the cluster access
 * variables the registrar reads, plus these. README.md ("Configuration") documents them.
 */
export const bootstrapEnvironmentSchema = environmentSchema
  .pick({
    AWS_REGION: true,
    CLUSTER_NAME: true,
    CLUSTER_ENDPOINT: true,
    CLUSTER_CA_DATA: true,
    KUBECONFIG: true,
    KUBE_REQUEST_TIMEOUT_MS: true,
  })
  .extend({
    /** Opted-in groups: `namespace/name[:serviceaccount]`, comma-separated. */
    BOOTSTRAP_GROUPS: csv.pipe(z.array(z.string()).min(1, 'BOOTSTRAP_GROUPS must name at least one group')),
    BOOTSTRAP_PARAMETER_PREFIX: z
      .string()
      .regex(
        /^(\/[A-Za-z0-9_.-]+)+$/,
        'must be an SSM path like /istio-vm-registrar/bootstrap (no trailing /)',
      )
      .default(DEFAULT_PARAMETER_PREFIX),
    /** KMS key (id, ARN or alias) of the token SecureStrings. */
    BOOTSTRAP_KMS_KEY_ID: z.string().min(1),
    BOOTSTRAP_TOKEN_LIFETIME_SECONDS: z.coerce
      .number()
      .int()
      .min(MIN_TOKEN_LIFETIME_SECONDS)
      .max(365 * 86_400)
      .default(DEFAULT_TOKEN_LIFETIME_SECONDS),
    /** How often the function runs (its schedule): judges when a refresh is late. */
    BOOTSTRAP_REFRESH_INTERVAL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
    BOOTSTRAP_ISTIO_VERSION: z
      .string()
      .regex(/^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$/, 'must be an Istio release like 1.26.2'),
    BOOTSTRAP_CLUSTER_ID: z.string().min(1).default('Kubernetes'),
    BOOTSTRAP_ARCHITECTURE: z.enum(['single-network', 'multi-network']).default('single-network'),
    BOOTSTRAP_CONTROL_PLANE_NAMESPACE: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
      .default('istio-system'),
    /** DNS name of the east-west gateway: the NLB, or the interface endpoint (multi-network). */
    BOOTSTRAP_GATEWAY_DNS_NAME: z.string().min(1),
    /** VPCs associated with the gateway's private hosted zone. */
    BOOTSTRAP_ZONE_VPC_IDS: csv
      .pipe(z.array(z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'each must be a VPC id')))
      .default([]),
  });

export interface BootstrapConfig {
  readonly region: string;
  readonly cluster: ClusterAccess;
  readonly kubeRequestTimeoutMs: number;
  readonly groups: readonly BootstrapGroupRef[];
  readonly parameterPrefix: string;
  readonly kmsKeyId: string;
  readonly tokenLifetimeSeconds: number;
  readonly refreshIntervalSeconds: number;
  readonly istioVersion: string;
  readonly clusterId: string;
  readonly architecture: MeshArchitecture;
  readonly controlPlaneNamespace: string;
  readonly gatewayDnsName: string;
  readonly zoneVpcIds: readonly string[];
}

/** Reads and validates the bootstrap configuration; throws ConfigError naming every problem. */
export function loadBootstrapConfig(env: Record<string, string | undefined> = process.env): BootstrapConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = bootstrapEnvironmentSchema.safeParse(present);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`);
  const groups: BootstrapGroupRef[] = [];
  if (parsed.success) {
    const e = parsed.data;
    for (const item of e.BOOTSTRAP_GROUPS) {
      try {
        groups.push(parseBootstrapGroup(item));
      } catch (error) {
        problems.push(`BOOTSTRAP_GROUPS: ${(error as Error).message}`);
      }
    }
    const keys = groups.map((g) => `${g.namespace}/${g.name}`);
    if (new Set(keys).size !== keys.length) problems.push('BOOTSTRAP_GROUPS: a group is named twice');
    // A run must come at least twice within half a lifetime, or a token could expire between runs.
    if (e.BOOTSTRAP_REFRESH_INTERVAL_SECONDS * 4 > e.BOOTSTRAP_TOKEN_LIFETIME_SECONDS) {
      problems.push(
        `BOOTSTRAP_REFRESH_INTERVAL_SECONDS: ${e.BOOTSTRAP_REFRESH_INTERVAL_SECONDS} must be at most a quarter of BOOTSTRAP_TOKEN_LIFETIME_SECONDS (${e.BOOTSTRAP_TOKEN_LIFETIME_SECONDS})`,
      );
    }
  }
  if (!parsed.success || problems.length > 0) {
    throw new ConfigError(`invalid bootstrap configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const region = e.AWS_REGION ?? 'us-east-1';
  const cluster: ClusterAccess = e.CLUSTER_NAME
    ? {
        kind: 'eks',
        clusterName: e.CLUSTER_NAME,
        region,
        ...(e.CLUSTER_ENDPOINT ? { endpoint: e.CLUSTER_ENDPOINT } : {}),
        ...(e.CLUSTER_CA_DATA ? { caData: e.CLUSTER_CA_DATA } : {}),
      }
    : { kind: 'kubeconfig', ...(e.KUBECONFIG ? { path: e.KUBECONFIG } : {}) };
  return {
    region,
    cluster,
    kubeRequestTimeoutMs: e.KUBE_REQUEST_TIMEOUT_MS,
    groups,
    parameterPrefix: e.BOOTSTRAP_PARAMETER_PREFIX,
    kmsKeyId: e.BOOTSTRAP_KMS_KEY_ID,
    tokenLifetimeSeconds: e.BOOTSTRAP_TOKEN_LIFETIME_SECONDS,
    refreshIntervalSeconds: e.BOOTSTRAP_REFRESH_INTERVAL_SECONDS,
    istioVersion: e.BOOTSTRAP_ISTIO_VERSION,
    clusterId: e.BOOTSTRAP_CLUSTER_ID,
    architecture: e.BOOTSTRAP_ARCHITECTURE,
    controlPlaneNamespace: e.BOOTSTRAP_CONTROL_PLANE_NAMESPACE,
    gatewayDnsName: e.BOOTSTRAP_GATEWAY_DNS_NAME,
    zoneVpcIds: e.BOOTSTRAP_ZONE_VPC_IDS,
  };
}
