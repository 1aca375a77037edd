import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesError } from '../../shared/adapters/errors.ts';
import { KubeBootstrap } from '../../shared/adapters/kube-bootstrap.ts';
import { BootstrapParameters } from '../../shared/adapters/parameters.ts';
import { BootstrapRefresher, type BootstrapTelemetry } from '../../shared/app/bootstrap.ts';
import { loadBootstrapConfig } from '../../shared/config/bootstrap-config.ts';
import {
  DEFAULT_BOOTSTRAP_KUBERNETES_GROUP,
  renderBootstrapRbacManifests,
} from '../../shared/manifests/bootstrap-rbac.ts';
import { logger } from '../../shared/observability.ts';
import { MESH_CONFIG, ROOT_CERT, sampleGroupObject } from '../helpers/bootstrap.ts';
import { fakeParameterStore } from '../helpers/parameter-store.ts';

/**
 * The VM bootstrap's Kubernetes calls against a real cluster (`E2E_KUBECONFIG`): TokenRequest for a
 * service account created for the run, the two ConfigMaps, a whole refresh (Parameter Store faked),
 * and the bootstrap RBAC enforced by the real authorizer through impersonation. No istiod runs
 * there, so the run creates the `istio` and `istio-ca-root-cert` ConfigMaps itself, in namespaces
 * of its own, deleted after it.
 */
const kubeconfigPath = process.env.E2E_KUBECONFIG;
if (!kubeconfigPath) process.stderr.write('E2E_KUBECONFIG is not set: the real-cluster suite was not run\n');

const claims = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

/** The same cluster, as a member of the bootstrap function's Kubernetes group. */
class ImpersonatingConfig extends KubeConfig {
  override async applySecurityAuthentication(
    context: Parameters<KubeConfig['applySecurityAuthentication']>[0],
  ) {
    await super.applySecurityAuthentication(context);
    context.setHeaderParam('Impersonate-User', 'istio-vm-registrar-bootstrap-e2e');
    context.setHeaderParam('Impersonate-Group', DEFAULT_BOOTSTRAP_KUBERNETES_GROUP);
  }
}

describe.runIf(kubeconfigPath)('E2E: VM bootstrap against a real cluster', () => {
  const suffix = randomBytes(3).toString('hex');
  const namespace = `vm-bootstrap-e2e-${suffix}`;
  const controlPlane = `vm-bootstrap-e2e-cp-${suffix}`;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let kube: KubeBootstrap;
  const noMetrics: BootstrapTelemetry = { count: () => undefined, seconds: () => undefined };

  const refresher = (source: KubeConfig, groups = `${namespace}/reviews:reviews`) => {
    const ssm = fakeParameterStore();
    const config = loadBootstrapConfig({
      BOOTSTRAP_GROUPS: groups,
      BOOTSTRAP_KMS_KEY_ID: 'alias/istio-vm-bootstrap',
      BOOTSTRAP_ISTIO_VERSION: '1.26.2',
      BOOTSTRAP_GATEWAY_DNS_NAME: 'gateway.example.internal',
      BOOTSTRAP_CONTROL_PLANE_NAMESPACE: controlPlane,
    });
    return {
      ssm,
      refresher: new BootstrapRefresher({
        config,
        kube: KubeBootstrap.connect(async () => source, { requestTimeoutMs: 10_000 }),
        parameters: new BootstrapParameters(ssm.client),
        resolve: async () => ['10.0.1.5'],
        logger,
        telemetry: noMetrics,
      }),
    };
  };

  beforeAll(async () => {
    kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath!);
    core = kc.makeApiClient(CoreV1Api);
    kube = KubeBootstrap.connect(async () => kc, { requestTimeoutMs: 10_000 });
    for (const name of [namespace, controlPlane])
      await core.createNamespace({ body: { metadata: { name } } });
    for (const name of ['reviews', 'other']) {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    }
    await core.createNamespacedConfigMap({
      namespace: controlPlane,
      body: { metadata: { name: 'istio' }, data: { mesh: MESH_CONFIG } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'istio-ca-root-cert' }, data: { 'root-cert.pem': ROOT_CERT } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'unrelated' }, data: { a: '1' } },
    });
    const group = sampleGroupObject('single-network');
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace,
      plural: 'workloadgroups',
      body: { ...group, metadata: { name: 'reviews', namespace } },
    });
  });

  afterAll(async () => {
    for (const name of [namespace, controlPlane])
      await core?.deleteNamespace({ name }).catch(() => undefined);
  });

  it('TokenRequest: an istio-ca token for the service account, expiring when the server says', async () => {
    const before = Date.now();
    const issued = await kube.createToken(namespace, 'reviews', {
      audience: 'istio-ca',
      expirationSeconds: 86_400,
    });
    const sa = await core.readNamespacedServiceAccount({ name: 'reviews', namespace });
    expect(claims(issued.token)).toMatchObject({
      aud: ['istio-ca'],
      sub: `system:serviceaccount:${namespace}:reviews`,
      'kubernetes.io': { namespace, serviceaccount: { name: 'reviews', uid: sa.metadata?.uid } },
    });
    // The server may shorten the lifetime (--service-account-max-token-expiration), never lengthen it.
    const lifetime = issued.expiresAt.getTime() - before;
    expect(lifetime).toBeGreaterThan(10 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(86_400_000 + 5_000);
    expect(claims(issued.token).exp).toBe(Math.floor(issued.expiresAt.getTime() / 1000));
  });

  it('TokenRequest: 404 for a service account that does not exist, 422 under ten minutes', async () => {
    const missing = await kube
      .createToken(namespace, 'ghost', { audience: 'istio-ca', expirationSeconds: 3600 })
      .catch((e) => e);
    expect(missing).toBeInstanceOf(KubernetesError);
    expect(missing).toMatchObject({ status: 404, retriable: false });
    const short = await kube
      .createToken(namespace, 'reviews', { audience: 'istio-ca', expirationSeconds: 60 })
      .catch((e) => e);
    expect(short).toMatchObject({ status: 422 });
    expect((short as Error).message).toContain('may not specify a duration less than 10 minutes');
  });

  it('ConfigMaps: the data of the two it reads, undefined for one that does not exist', async () => {
    expect(await kube.getConfigMapData(controlPlane, 'istio')).toEqual({ mesh: MESH_CONFIG });
    expect(await kube.getConfigMapData(namespace, 'istio-ca-root-cert')).toEqual({
      'root-cert.pem': ROOT_CERT,
    });
    expect(await kube.getConfigMapData(namespace, 'istio')).toBeUndefined();
  });

  it('a whole refresh: the bundle from the real objects, and a minted token', async () => {
    const { ssm, refresher: r } = refresher(kc);
    const summary = await r.run();
    expect(summary.groups[0]).toMatchObject({
      bundle: { status: 'written' },
      token: { status: 'minted' },
      problems: [],
    });
    const path = `/istio-vm-registrar/bootstrap/${namespace}/reviews`;
    expect(ssm.value(`${path}/cluster.env`)).toContain(`ISTIO_NAMESPACE=${namespace}`);
    expect(ssm.value(`${path}/hosts`)).toBe(`10.0.1.5 istiod.${controlPlane}.svc\n`);
    expect(claims(ssm.value(`${path}/istio-token`)!).aud).toEqual(['istio-ca']);
  });

  it('RBAC: the bootstrap group may do exactly its calls, by name', async () => {
    // Prepare: the rendered Roles and bindings, applied as they would be by `kubectl apply`.
    const objects = KubernetesObjectApi.makeApiClient(kc);
    for (const object of renderBootstrapRbacManifests({
      groups: [{ namespace, name: 'reviews', serviceAccount: 'reviews' }],
      controlPlaneNamespace: controlPlane,
    })) {
      await objects.create(object as KubernetesObject);
    }
    const as = new ImpersonatingConfig();
    as.loadFromFile(kubeconfigPath!);
    const limited = KubeBootstrap.connect(async () => as, { requestTimeoutMs: 10_000, maxAttempts: 1 });
    // Act + Assess: the refresh succeeds as that group...
    const { refresher: r } = refresher(as);
    expect((await r.run()).groups[0]?.problems).toEqual([]);
    // ...and nothing beyond it is allowed.
    const otherToken = await limited
      .createToken(namespace, 'other', { audience: 'istio-ca', expirationSeconds: 3600 })
      .catch((e) => e);
    expect(otherToken).toMatchObject({ status: 403 });
    const otherMap = await limited.getConfigMapData(namespace, 'unrelated').catch((e) => e);
    expect(otherMap).toMatchObject({ status: 403 });
    const otherGroup = await limited.getWorkloadGroup(namespace, 'ratings').catch((e) => e);
    expect(otherGroup).toMatchObject({ status: 403 });
  });
});
