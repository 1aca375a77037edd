import { Sha256 } from '@aws-crypto/sha256-js';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { KubeConfig } from '@kubernetes/client-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { ClusterAccess } from '../config/config.ts';
import { registerSecret } from '../redaction.ts';
import type { KubeConfigSource } from './kube.ts';
import { PooledKubeConfig } from './pooled-kubeconfig.ts';

/** EKS accepts a token for 15 minutes after signing; refresh well before. */
const TOKEN_LIFETIME_MS = 15 * 60_000;
const REFRESH_MARGIN_MS = 5 * 60_000;

export interface EksToken {
  readonly token: string;
  /** Epoch ms after which the token must not be used. */
  readonly expiresAt: number;
}

function stsHostname(region: string): string {
  return region.startsWith('cn-') ? `sts.${region}.amazonaws.com.cn` : `sts.${region}.amazonaws.com`;
}

/**
 * The token `aws eks get-token` prints: a presigned STS GetCallerIdentity URL carrying the cluster
 * name in the signed `x-k8s-aws-id` header, base64url-encoded behind `k8s-aws-v1.`.
 * https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster
 */
export async function createEksToken(options: {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentityProvider;
  now?: Date;
}): Promise<EksToken> {
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region,
    service: 'sts',
    sha256: Sha256,
  });
  const now = options.now ?? new Date();
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname: stsHostname(options.region),
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: stsHostname(options.region), 'x-k8s-aws-id': options.clusterName },
  });
  const signed = await signer.presign(request, { expiresIn: 60, signingDate: now });
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  const url = `https://${signed.hostname}${signed.path}?${query}`;
  return {
    token: `k8s-aws-v1.${Buffer.from(url).toString('base64url')}`,
    expiresAt: now.getTime() + TOKEN_LIFETIME_MS,
  };
}

/**
 * A KubeConfig source for the configured cluster access. For EKS it signs a token, caches the
 * config and rebuilds it five minutes before the token expires; the endpoint and CA come from the
 * configuration or, when absent, from eks:DescribeCluster (once per container).
 */
export function kubeConfigSource(
  access: ClusterAccess,
  deps: { credentials?: AwsCredentialIdentityProvider; eks?: EKSClient; now?: () => number } = {},
): KubeConfigSource {
  if (access.kind === 'kubeconfig') {
    let config: KubeConfig | undefined;
    return async () => {
      if (!config) {
        config = new PooledKubeConfig();
        if (access.path) config.loadFromFile(access.path);
        else config.loadFromDefault();
        // Its credentials never reach a log line (shared/redaction.ts).
        for (const user of config.getUsers()) {
          for (const secret of [user.token, user.password, user.keyData, user.certData])
            registerSecret(secret);
        }
      }
      return config;
    };
  }
  const now = deps.now ?? Date.now;
  const credentials = deps.credentials ?? fromNodeProviderChain();
  let cluster: Promise<{ server: string; caData: string }> | undefined;
  let current: { config: KubeConfig; refreshAt: number } | undefined;
  let pending: Promise<KubeConfig> | undefined;

  const resolveCluster = async () => {
    if (access.endpoint && access.caData) return { server: access.endpoint, caData: access.caData };
    const eks = deps.eks ?? new EKSClient({ region: access.region, credentials });
    const out = await eks.send(new DescribeClusterCommand({ name: access.clusterName }));
    const server = access.endpoint ?? out.cluster?.endpoint;
    const caData = access.caData ?? out.cluster?.certificateAuthority?.data;
    if (!server || !caData) throw new Error(`EKS cluster ${access.clusterName} has no endpoint or CA yet`);
    return { server, caData };
  };

  const build = async (): Promise<KubeConfig> => {
    cluster ??= resolveCluster().catch((error) => {
      cluster = undefined;
      throw error;
    });
    const { server, caData } = await cluster;
    const token = await createEksToken({
      clusterName: access.clusterName,
      region: access.region,
      credentials,
      now: new Date(now()),
    });
    registerSecret(token.token);
    const config = new PooledKubeConfig();
    config.loadFromClusterAndUser(
      { name: access.clusterName, server, caData, skipTLSVerify: false },
      { name: 'istio-vm-registrar', token: token.token },
    );
    current = { config, refreshAt: token.expiresAt - REFRESH_MARGIN_MS };
    return config;
  };

  return async () => {
    if (current && now() < current.refreshAt) return current.config;
    pending ??= build().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
