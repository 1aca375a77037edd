import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  type V1ResourceAttributes,
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
import { assertMayImpersonate, waitForAccess } from '../helpers/e2e.ts';
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
/** `aud` as a list: RFC 7519 lets a single audience be a plain string (newer JWT libraries write it so). */
const audiences = (token: string) => [claims(token).aud].flat();

/** Who the RBAC scenario acts as: a member of the bootstrap function's Kubernetes group. */
const BOOTSTRAP_SUBJECT = {
  user: 'istio-vm-registrar-bootstrap-e2e',
  groups: [DEFAULT_BOOTSTRAP_KUBERNETES_GROUP],
} as const;

/** The same cluster, as BOOTSTRAP_SUBJECT. */
class ImpersonatingConfig extends KubeConfig {
  override async applySecurityAuthentication(
    context: Parameters<KubeConfig['applySecurityAuthentication']>[0],
  ) {
    await super.applySecurityAuthentication(context);
    context.setHeaderParam('Impersonate-User', BOOTSTRAP_SUBJECT.user);
    context.setHeaderParam('Impersonate-Group', BOOTSTRAP_SUBJECT.groups[0]);
  }
}

interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames: string[];
}

/** Every call the rendered Roles grant, as SubjectAccessReview attributes. */
function grantedCalls(objects: readonly unknown[]): V1ResourceAttributes[] {
  return (objects as Array<{ kind: string; metadata: { namespace: string }; rules?: RoleRule[] }>)
    .filter((object) => object.kind === 'Role')
    .flatMap(({ metadata: { namespace }, rules = [] }) =>
      rules.flatMap((rule) =>
        rule.apiGroups.flatMap((group) =>
          rule.resources.flatMap((qualified) => {
            const [resource, subresource] = qualified.split('/');
            return rule.verbs.flatMap((verb) =>
              rule.resourceNames.map((name) => ({
                namespace,
                verb,
                group,
                resource: resource!,
                ...(subresource ? { subresource } : {}),
                name,
              })),
            );
          }),
        ),
      ),
    );
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
    const issued = await kube.createToken(namespace, 'reviews', {
      audience: 'istio-ca',
      expirationSeconds: 86_400,
    });
    const sa = await core.readNamespacedServiceAccount({ name: 'reviews', namespace });
    const c = claims(issued.token) as { iat: number; exp: number };
    expect(c).toMatchObject({
      sub: `system:serviceaccount:${namespace}:reviews`,
      'kubernetes.io': { namespace, serviceaccount: { name: 'reviews', uid: sa.metadata?.uid } },
    });
    expect(audiences(issued.token)).toEqual(['istio-ca']);
    // The lifetime by the server's own clock (the test machine's may differ from it): the server may
    // shorten it (--service-account-max-token-expiration), never lengthen it, nor go under 10 minutes.
    expect(c.exp - c.iat).toBeGreaterThanOrEqual(600);
    expect(c.exp - c.iat).toBeLessThanOrEqual(86_400);
    // status.expirationTimestamp comes from a clock read taken just before the claims' own: the same
    // second, or the one before.
    const status = Math.floor(issued.expiresAt.getTime() / 1000);
    expect(c.exp - status).toBeGreaterThanOrEqual(0);
    expect(c.exp - status).toBeLessThanOrEqual(1);
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
    expect(audiences(ssm.value(`${path}/istio-token`)!)).toEqual(['istio-ca']);
  });

  it('RBAC: the bootstrap group may do exactly its calls, by name', async () => {
    // Prepare: the rendered Roles and bindings, applied as they would be by `kubectl apply`.
    await assertMayImpersonate(kc, BOOTSTRAP_SUBJECT);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const rbac = renderBootstrapRbacManifests({
      groups: [{ namespace, name: 'reviews', serviceAccount: 'reviews' }],
      controlPlaneNamespace: controlPlane,
    });
    for (const object of rbac) await objects.create(object as KubernetesObject);
    // The authorizer serves Roles and bindings from its cache: wait until they are in force.
    await waitForAccess(kc, BOOTSTRAP_SUBJECT, grantedCalls(rbac));
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
