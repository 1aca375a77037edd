/**
 * ConfigMaps, ServiceAccounts, Secrets and TokenRequest (`serviceaccounts/token`) in the Kubernetes API
 * stand-in, as a kube-apiserver 1.26 serves them. These pin what the VM bootstrap relies on: the two
 * ConfigMaps it reads, and a token whose audience, lifetime and expiry are the ones asked for (or the
 * server's maximum), refused for a missing service account.
 */
import { ApiException, CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiStandIn, type KubeStatus, startKubeApi } from '#test/standins/kube-api/index.ts';

const NS = 'bookinfo';
const T0 = Date.parse('2026-03-01T10:00:00.000Z');

async function failure(p: Promise<unknown>): Promise<{ code: number; status: KubeStatus }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
    return { code: e.code, status: JSON.parse(body) as KubeStatus };
  }
  throw new Error('expected the request to fail');
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

describe('Stand-in: ConfigMaps, ServiceAccounts and TokenRequest', () => {
  let standIn: KubeApiStandIn;
  let core: CoreV1Api;
  let clock = T0;

  beforeAll(async () => {
    standIn = await startKubeApi({
      namespaces: [NS],
      now: () => clock,
      maxTokenExpirationSeconds: 48 * 3600,
    });
    const kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'reviews' } } });
  });
  afterAll(async () => standIn?.close());

  describe('TokenRequest', () => {
    it('issues a token for the audience and lifetime asked, expiring by the issuer clock', async () => {
      // Prepare
      clock = T0;
      // Act
      const answer = await core.createNamespacedServiceAccountToken({
        name: 'reviews',
        namespace: NS,
        body: { spec: { audiences: ['istio-ca'], expirationSeconds: 86_400 } },
      });
      // Assess
      // As the real server, boundObjectRef comes back as null when none was asked for.
      expect({ ...answer.spec }).toEqual({
        audiences: ['istio-ca'],
        expirationSeconds: 86_400,
        boundObjectRef: null,
      });
      expect(answer.status?.expirationTimestamp).toEqual(new Date('2026-03-02T10:00:00Z'));
      const token = answer.status?.token ?? '';
      const sa = await core.readNamespacedServiceAccount({ name: 'reviews', namespace: NS });
      expect(claims(token)).toMatchObject({
        aud: ['istio-ca'],
        sub: 'system:serviceaccount:bookinfo:reviews',
        iat: T0 / 1000,
        exp: T0 / 1000 + 86_400,
        'kubernetes.io': { namespace: NS, serviceaccount: { name: 'reviews', uid: sa.metadata?.uid } },
      });
      expect(answer.metadata).toMatchObject({ name: 'reviews', namespace: NS });
    });

    it('defaults to one hour and to the server audiences', async () => {
      const answer = await core.createNamespacedServiceAccountToken({
        name: 'reviews',
        namespace: NS,
        body: { spec: { audiences: [] } },
      });
      expect(answer.spec?.expirationSeconds).toBe(3600);
      expect(answer.spec?.audiences).toEqual(['https://kubernetes.default.svc.cluster.local']);
    });

    it('shortens a lifetime above the server maximum, with a warning', async () => {
      const response = await fetch(`${standIn.url}/api/v1/namespaces/${NS}/serviceaccounts/reviews/token`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
        body: JSON.stringify({ spec: { audiences: ['istio-ca'], expirationSeconds: 7 * 86_400 } }),
      });
      const body = (await response.json()) as { spec: { expirationSeconds: number } };
      expect(response.status).toBe(201);
      expect(body.spec.expirationSeconds).toBe(48 * 3600);
      expect(response.headers.get('warning')).toBe(
        '299 - "requested expiration of 604800 seconds shortened to 172800 seconds"',
      );
    });

    it('answers 404 for a service account that does not exist', async () => {
      const { code, status } = await failure(
        core.createNamespacedServiceAccountToken({
          name: 'ghost',
          namespace: NS,
          body: { spec: { audiences: ['istio-ca'] } },
        }),
      );
      expect(code).toBe(404);
      expect(status).toMatchObject({ reason: 'NotFound', message: 'serviceaccounts "ghost" not found' });
    });

    it('refuses a lifetime under ten minutes and a name that is not the URL one', async () => {
      const short = await failure(
        core.createNamespacedServiceAccountToken({
          name: 'reviews',
          namespace: NS,
          body: { spec: { audiences: ['istio-ca'], expirationSeconds: 60 } },
        }),
      );
      expect(short.code).toBe(422);
      expect(short.status.message).toBe(
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
      );
      const renamed = await failure(
        core.createNamespacedServiceAccountToken({
          name: 'reviews',
          namespace: NS,
          body: { metadata: { name: 'other' }, spec: { audiences: ['istio-ca'] } },
        }),
      );
      expect(renamed.code).toBe(422);
      expect(renamed.status.message).toContain('must match the service account name if specified');
    });

    it('binds to a Secret that exists with that uid, and to nothing else', async () => {
      const secret = await core.createNamespacedSecret({
        namespace: NS,
        body: { metadata: { name: 'vm-bound' }, stringData: { note: 'x' } },
      });
      expect(secret.type).toBe('Opaque');
      expect(secret.data).toEqual({ note: Buffer.from('x').toString('base64') });
      const ref = { apiVersion: 'v1', kind: 'Secret', name: 'vm-bound', uid: secret.metadata?.uid ?? '' };
      const answer = await core.createNamespacedServiceAccountToken({
        name: 'reviews',
        namespace: NS,
        body: { spec: { audiences: ['istio-ca'], boundObjectRef: ref } },
      });
      expect(claims(answer.status?.token ?? '')['kubernetes.io']).toMatchObject({
        secret: { name: 'vm-bound', uid: ref.uid },
      });
      const stale = await failure(
        core.createNamespacedServiceAccountToken({
          name: 'reviews',
          namespace: NS,
          body: { spec: { audiences: ['istio-ca'], boundObjectRef: { ...ref, uid: 'other-uid' } } },
        }),
      );
      expect(stale.code).toBe(409);
      const wrongKind = await failure(
        core.createNamespacedServiceAccountToken({
          name: 'reviews',
          namespace: NS,
          body: {
            spec: {
              audiences: ['istio-ca'],
              boundObjectRef: { apiVersion: 'v1', kind: 'ConfigMap', name: 'x' },
            },
          },
        }),
      );
      expect(wrongKind).toMatchObject({
        code: 400,
        status: { message: 'cannot bind token to object of type /v1, Kind=ConfigMap' },
      });
    });

    it('takes POST only, and appears in discovery as serviceaccounts/token', async () => {
      const get = await fetch(`${standIn.url}/api/v1/namespaces/${NS}/serviceaccounts/reviews/token`, {
        headers: { Authorization: 'Bearer t' },
      });
      expect(get.status).toBe(405);
      const doc = (await (
        await fetch(`${standIn.url}/api/v1`, { headers: { Authorization: 'Bearer t' } })
      ).json()) as { resources: Array<Record<string, unknown>> };
      expect(doc.resources.find((r) => r.name === 'serviceaccounts/token')).toEqual({
        name: 'serviceaccounts/token',
        singularName: '',
        namespaced: true,
        group: 'authentication.k8s.io',
        version: 'v1',
        kind: 'TokenRequest',
        verbs: ['create'],
      });
    });
  });

  describe('ConfigMaps', () => {
    it('stores and reads back data and binaryData; 404 for a missing one', async () => {
      const body: V1ConfigMap = {
        metadata: { name: 'istio-ca-root-cert' },
        data: { 'root-cert.pem': '-----BEGIN CERTIFICATE-----\n' },
        binaryData: { blob: Buffer.from([0, 1, 2]).toString('base64') },
      };
      await core.createNamespacedConfigMap({ namespace: NS, body });
      const read = await core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: NS });
      expect(read.data).toEqual(body.data);
      expect(read.binaryData).toEqual(body.binaryData);
      const missing = await failure(core.readNamespacedConfigMap({ name: 'istio', namespace: NS }));
      expect(missing).toMatchObject({ code: 404, status: { message: 'configmaps "istio" not found' } });
    });

    it('refuses keys that are not config keys and changes to an immutable one', async () => {
      const bad = await failure(
        core.createNamespacedConfigMap({
          namespace: NS,
          body: { metadata: { name: 'bad' }, data: { 'a/b': '1' } },
        }),
      );
      expect(bad.code).toBe(422);
      expect(bad.status.message).toContain(
        'data[a/b]: Invalid value: "a/b": a valid config key must consist of',
      );
      await core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: 'frozen' }, data: { a: '1' }, immutable: true },
      });
      const changed = await failure(
        core.replaceNamespacedConfigMap({
          name: 'frozen',
          namespace: NS,
          body: { metadata: { name: 'frozen' }, data: { a: '2' }, immutable: true },
        }),
      );
      expect(changed.code).toBe(422);
      expect(changed.status.message).toContain('data: Forbidden: field is immutable when `immutable` is set');
    });
  });
});
