import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kubeConfigSource } from '../../shared/adapters/eks-auth.ts';
import { KubeBootstrap } from '../../shared/adapters/kube-bootstrap.ts';
import { BootstrapParameters } from '../../shared/adapters/parameters.ts';
import {
  BootstrapRefresher,
  type BootstrapTelemetry,
  TOKEN_PARAMETER,
  TOKEN_RECORD_PARAMETER,
} from '../../shared/app/bootstrap.ts';
import { loadBootstrapConfig } from '../../shared/config/bootstrap-config.ts';
import { Metric } from '../../shared/constants.ts';
import { BUNDLE_FILES, renderBootstrapBundle } from '../../shared/domain/bootstrap.ts';
import { logger } from '../../shared/observability.ts';
import { MESH_CONFIG, ROOT_CERT, sampleGroupObject, sampleInput } from '../helpers/bootstrap.ts';
import { fakeParameterStore } from '../helpers/parameter-store.ts';
import { type KubeApiStandIn, startKubeApi } from '../standins/kube-api/index.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const PATH = '/istio-vm-registrar/bootstrap/bookinfo/reviews';
const KEY = 'arn:aws:kms:us-west-2:123456789012:key/11111111-2222-3333-4444-555555555555';

/** Metrics recorded by name (summed), with the Reason dimension kept for failures. */
function recordingTelemetry() {
  const counts: Record<string, number> = {};
  const reasons: string[] = [];
  const gauges: Record<string, number[]> = {};
  const telemetry: BootstrapTelemetry = {
    count(name, value = 1, dimension) {
      counts[name] = (counts[name] ?? 0) + value;
      if (dimension) reasons.push(dimension.value);
    },
    seconds(name, value) {
      gauges[name] = [...(gauges[name] ?? []), value];
    },
  };
  return { telemetry, counts, reasons, gauges };
}

const claims = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('BootstrapRefresher: bundles and tokens in Parameter Store, against the stand-ins', () => {
  let kube: KubeApiStandIn;
  let clock = T0;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    kube = await startKubeApi({ namespaces: ['bookinfo', 'istio-system'], now: () => clock });
    dir = mkdtempSync(join(tmpdir(), 'bootstrap-refresh-'));
    kubeconfig = join(dir, 'kubeconfig');
    kube.writeKubeconfig(kubeconfig);
  });
  afterAll(async () => {
    await kube?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    clock = T0;
    kube.seed(sampleGroupObject('single-network'));
    kube.seed({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'reviews', namespace: 'bookinfo' },
    });
    kube.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: 'istio-system' },
      data: { mesh: MESH_CONFIG },
    });
    kube.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio-ca-root-cert', namespace: 'bookinfo' },
      data: { 'root-cert.pem': ROOT_CERT },
    });
  });
  afterEach(async () => {
    for (const [apiVersion, kind, ns, name] of [
      ['networking.istio.io/v1', 'workloadgroups', 'bookinfo', 'reviews'],
      ['v1', 'serviceaccounts', 'bookinfo', 'reviews'],
      ['v1', 'configmaps', 'istio-system', 'istio'],
      ['v1', 'configmaps', 'bookinfo', 'istio-ca-root-cert'],
    ] as const) {
      const prefix = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
      await fetch(`${kube.url}${prefix}/namespaces/${ns}/${kind}/${name}`, {
        method: 'DELETE',
        headers: { Authorization: 'Bearer t' },
      });
    }
  });

  function setup(env: Record<string, string> = {}, resolve = async () => ['10.0.2.6', '10.0.1.5']) {
    const ssm = fakeParameterStore(() => clock);
    const metrics = recordingTelemetry();
    const config = loadBootstrapConfig({
      KUBECONFIG: kubeconfig,
      AWS_REGION: 'us-west-2',
      BOOTSTRAP_GROUPS: 'bookinfo/reviews:reviews',
      BOOTSTRAP_KMS_KEY_ID: KEY,
      BOOTSTRAP_ISTIO_VERSION: '1.26.2',
      BOOTSTRAP_GATEWAY_DNS_NAME: 'internal-istio-eastwest-0123456789.elb.us-west-2.amazonaws.com',
      BOOTSTRAP_ZONE_VPC_IDS: 'vpc-0a1b2c3d4e5f60718',
      ...env,
    });
    const refresher = new BootstrapRefresher({
      config,
      kube: KubeBootstrap.connect(kubeConfigSource(config.cluster), { requestTimeoutMs: 5000 }),
      parameters: new BootstrapParameters(ssm.client),
      resolve,
      logger,
      telemetry: metrics.telemetry,
      now: () => clock,
    });
    return { ssm, metrics, refresher };
  }

  it('writes the rendered bundle and a 24 h istio-ca token, the token as a SecureString with the key', async () => {
    // Prepare
    const { ssm, metrics, refresher } = setup();
    // Act
    const summary = await refresher.run();
    // Assess
    const expected = renderBootstrapBundle(sampleInput('single-network'));
    if (!expected.ok) throw new Error(expected.refusal.message);
    for (const file of BUNDLE_FILES) expect(ssm.value(`${PATH}/${file}`), file).toBe(expected.bundle[file]);
    const token = ssm.store.get(`${PATH}/${TOKEN_PARAMETER}`)!;
    expect(token).toMatchObject({ type: 'SecureString', keyId: KEY, tier: 'Standard' });
    expect(claims(token.value)).toMatchObject({
      aud: ['istio-ca'],
      sub: 'system:serviceaccount:bookinfo:reviews',
      exp: T0 / 1000 + 24 * 3600,
    });
    expect(JSON.parse(ssm.value(`${PATH}/${TOKEN_RECORD_PARAMETER}`)!)).toEqual({
      issuedAt: '2026-03-01T00:00:00.000Z',
      expiresAt: '2026-03-02T00:00:00.000Z',
    });
    expect(summary.groups[0]).toMatchObject({
      group: 'bookinfo/reviews',
      bundle: { status: 'written', files: [...BUNDLE_FILES] },
      token: { status: 'minted', state: 'missing', expiresAt: '2026-03-02T00:00:00.000Z' },
      problems: [],
    });
    expect(metrics.counts).toMatchObject({
      [Metric.BootstrapTokensMinted]: 1,
      [Metric.BootstrapFilesWritten]: 5,
    });
    expect(metrics.gauges[Metric.BootstrapTokenSecondsLeft]).toEqual([24 * 3600]);
  });

  it('writes nothing on a second run when nothing changed', async () => {
    const { ssm, refresher } = setup();
    await refresher.run();
    const writes = ssm.puts().length;
    clock = T0 + 10 * 60_000;
    const summary = await refresher.run();
    expect(ssm.puts()).toHaveLength(writes);
    expect(summary.groups[0]).toMatchObject({
      bundle: { status: 'unchanged', files: [] },
      token: { status: 'kept', state: 'fresh' },
    });
  });

  it('refreshes the token at half its lifetime, well before it expires, as time advances', async () => {
    // Prepare
    const { ssm, metrics, refresher } = setup();
    await refresher.run();
    const first = ssm.value(`${PATH}/${TOKEN_PARAMETER}`)!;
    // Act: hourly runs
    const seen: Array<{ hour: number; status: string }> = [];
    for (let hour = 1; hour <= 13; hour++) {
      clock = T0 + hour * HOUR;
      const summary = await refresher.run();
      seen.push({ hour, status: summary.groups[0]!.token.status });
    }
    // Assess: kept through hour 11, minted at hour 12 (refresh point), 12 h before the first expires.
    expect(seen.filter((s) => s.status === 'minted')).toEqual([{ hour: 12, status: 'minted' }]);
    const second = ssm.value(`${PATH}/${TOKEN_PARAMETER}`)!;
    expect(second).not.toBe(first);
    expect(claims(second).exp).toBe((T0 + 12 * HOUR) / 1000 + 24 * 3600);
    expect(claims(first).exp as number).toBeGreaterThan((T0 + 12 * HOUR) / 1000);
    expect(metrics.counts[Metric.BootstrapTokensMinted]).toBe(2);
    expect(metrics.counts[Metric.BootstrapTokenLate]).toBeUndefined();
    expect(metrics.counts[Metric.BootstrapRefreshFailed]).toBeUndefined();
  });

  it('counts a failed refresh, then a late one, then an expired token; recovers when the cause goes', async () => {
    // Prepare: a token at T0; then the service account is deleted, so TokenRequest answers 404.
    const { ssm, metrics, refresher } = setup();
    await refresher.run();
    await fetch(`${kube.url}/api/v1/namespaces/bookinfo/serviceaccounts/reviews`, {
      method: 'DELETE',
      headers: { Authorization: 'Bearer t' },
    });
    // Act + Assess: due at 12 h (fails), late from 13.5 h, expired at 24 h.
    clock = T0 + 12 * HOUR;
    let summary = await refresher.run();
    expect(summary.groups[0]?.token).toMatchObject({ status: 'failed', state: 'due' });
    expect(summary.groups[0]?.problems).toEqual([
      {
        reason: 'token-request-failed',
        message: expect.stringContaining('serviceaccounts "reviews" not found'),
      },
    ]);
    expect(metrics.reasons).toEqual(['token-request-failed']);
    clock = T0 + 14 * HOUR;
    summary = await refresher.run();
    expect(summary.groups[0]?.token.state).toBe('late');
    expect(metrics.counts[Metric.BootstrapTokenLate]).toBe(1);
    clock = T0 + 24 * HOUR;
    summary = await refresher.run();
    expect(summary.groups[0]?.token.state).toBe('expired');
    expect(metrics.counts[Metric.BootstrapTokenExpired]).toBe(1);
    expect(metrics.counts[Metric.BootstrapRefreshFailed]).toBe(3);
    // The gauge the low-token alarm watches reads 0 for an expired token.
    expect(metrics.gauges[Metric.BootstrapTokenSecondsLeft]?.at(-1)).toBe(0);
    // Recovery: the account is back, the next run mints.
    kube.seed({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'reviews', namespace: 'bookinfo' },
    });
    clock = T0 + 25 * HOUR;
    summary = await refresher.run();
    expect(summary.groups[0]?.token).toMatchObject({ status: 'minted', state: 'expired' });
    expect(claims(ssm.value(`${PATH}/${TOKEN_PARAMETER}`)!).exp).toBe((T0 + 25 * HOUR) / 1000 + 24 * 3600);
  });

  it('keeps the stored gateway addresses when the name does not resolve, and never writes an empty hosts file', async () => {
    // Prepare: a first run with addresses, then the resolver fails.
    let answer: () => Promise<string[]> = async () => ['10.0.1.5'];
    const { ssm, metrics, refresher } = setup({}, () => answer());
    await refresher.run();
    answer = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    // Act
    clock = T0 + HOUR;
    const kept = await refresher.run();
    // Assess
    expect(kept.groups[0]?.bundle.status).toBe('unchanged');
    expect(ssm.value(`${PATH}/hosts`)).toBe('10.0.1.5 istiod.istio-system.svc\n');
    // A group never resolved: its bundle fails (gateway-unresolved), its token is still minted.
    const fresh = setup({}, async () => []);
    const summary = await fresh.refresher.run();
    expect(summary.groups[0]).toMatchObject({
      bundle: { status: 'failed' },
      token: { status: 'minted' },
      problems: [{ reason: 'gateway-unresolved' }],
    });
    expect(fresh.ssm.value(`${PATH}/hosts`)).toBeUndefined();
    expect(fresh.metrics.reasons).toEqual(['gateway-unresolved']);
    expect(metrics.reasons).toEqual([]);
  });

  it('rewrites only the files a changed ConfigMap touches, and mints no token off-schedule', async () => {
    const { ssm, refresher } = setup();
    await refresher.run();
    await fetch(`${kube.url}/api/v1/namespaces/istio-system/configmaps/istio`, {
      method: 'PATCH',
      headers: { Authorization: 'Bearer t', 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { mesh: MESH_CONFIG.replace('meshId: mesh1', 'meshId: mesh2') } }),
    });
    clock = T0 + HOUR;
    const summary = await refresher.run();
    expect(summary.groups[0]?.bundle).toEqual({ status: 'written', files: ['cluster.env', 'mesh.yaml'] });
    expect(summary.groups[0]?.token.status).toBe('kept');
    expect(ssm.value(`${PATH}/cluster.env`)).toContain('ISTIO_META_MESH_ID=mesh2');
  });

  it('refuses a missing group and a group whose service account is not the authorised one', async () => {
    const missing = setup({ BOOTSTRAP_GROUPS: 'bookinfo/ratings:reviews' });
    const a = await missing.refresher.run();
    expect(a.groups[0]?.problems[0]?.reason).toBe('workload-group-not-found');
    expect(missing.ssm.puts()).toEqual([]);
    const other = setup({ BOOTSTRAP_GROUPS: 'bookinfo/reviews:default' });
    const b = await other.refresher.run();
    expect(b.groups[0]?.problems[0]).toEqual({
      reason: 'service-account-mismatch',
      message: expect.stringContaining('"reviews"'),
    });
    expect(other.ssm.puts()).toEqual([]);
    expect(other.metrics.reasons).toEqual(['service-account-mismatch']);
  });

  it('names a missing ConfigMap, and still refreshes the token', async () => {
    await fetch(`${kube.url}/api/v1/namespaces/bookinfo/configmaps/istio-ca-root-cert`, {
      method: 'DELETE',
      headers: { Authorization: 'Bearer t' },
    });
    const { refresher } = setup();
    const summary = await refresher.run();
    expect(summary.groups[0]).toMatchObject({
      bundle: { status: 'failed' },
      token: { status: 'minted' },
      problems: [
        { reason: 'configmap-not-found', message: 'ConfigMap bookinfo/istio-ca-root-cert does not exist' },
      ],
    });
  });
});
