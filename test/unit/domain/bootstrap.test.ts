import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  BootstrapProblem,
  canonicalService,
  envFile,
  groupServiceAccount,
  parseEnvFile,
  renderBootstrapBundle,
  shellQuote,
} from '../../../shared/domain/bootstrap.ts';
import { sampleInput } from '../../helpers/bootstrap.ts';

const refusalOf = (result: ReturnType<typeof renderBootstrapBundle>) =>
  result.ok ? undefined : result.refusal;

describe('Function: renderBootstrapBundle()', () => {
  it('refuses a multi-network group without a network, naming the field', () => {
    const input = sampleInput('multi-network');
    const group = { ...input.group, template: { ...input.group.template, network: '' } };
    expect(refusalOf(renderBootstrapBundle({ ...input, group }))).toEqual({
      reason: BootstrapProblem.NetworkMissing,
      message: expect.stringContaining('spec.template.network'),
    });
  });

  it('refuses a gateway without an IPv4 address: a hosts file is never empty', () => {
    const input = sampleInput();
    const result = renderBootstrapBundle({ ...input, gateway: { ...input.gateway, addresses: ['fd00::1'] } });
    expect(refusalOf(result)?.reason).toBe(BootstrapProblem.GatewayUnresolved);
  });

  it('refuses a missing root certificate and an unreadable mesh config', () => {
    expect(refusalOf(renderBootstrapBundle(sampleInput('single-network', { rootCert: '' })))?.reason).toBe(
      BootstrapProblem.RootCertMissing,
    );
    expect(
      refusalOf(renderBootstrapBundle(sampleInput('single-network', { meshConfig: 'defaultConfig: [' })))
        ?.reason,
    ).toBe(BootstrapProblem.MeshConfigInvalid);
    expect(
      refusalOf(renderBootstrapBundle(sampleInput('single-network', { meshConfig: '- a list' })))?.reason,
    ).toBe(BootstrapProblem.MeshConfigInvalid);
  });

  it('refuses values the VM script could not read as plain words', () => {
    const result = renderBootstrapBundle(sampleInput('single-network', { istioVersion: '1.26; rm -rf /' }));
    expect(refusalOf(result)?.reason).toBe(BootstrapProblem.ConfigInvalid);
  });

  it('applies proxy.istio.io/config from the group and its spec.metadata, then the probe', () => {
    // Prepare: the group annotation sets a field and metadata; spec.metadata overrides the field.
    const input = sampleInput();
    const group = {
      ...input.group,
      annotations: {
        'proxy.istio.io/config':
          'holdApplicationUntilProxyStarts: true\nconcurrency: 2\nproxyMetadata: {A: "1"}',
      },
      entryMetadata: {
        ...input.group.entryMetadata,
        annotations: { 'proxy.istio.io/config': 'concurrency: 4\nreadinessProbe: {tcpSocket: {port: 1}}' },
      },
    };
    // Act
    const result = renderBootstrapBundle({ ...input, group });
    if (!result.ok) throw new Error(result.refusal.message);
    const mesh = load(result.bundle['mesh.yaml']) as { defaultConfig: Record<string, unknown> };
    // Assess
    expect(mesh.defaultConfig).toMatchObject({
      holdApplicationUntilProxyStarts: true,
      concurrency: 4,
      proxyMetadata: expect.objectContaining({ A: '1', CANONICAL_SERVICE: 'reviews' }),
      readinessProbe: { httpGet: { path: '/ready', port: 9080 }, initialDelaySeconds: 1, periodSeconds: 5 },
    });
    expect(parseEnvFile(result.bundle['cluster.env']).A).toBe('1');
  });

  it('has no readiness probe when the group has none', () => {
    const input = sampleInput();
    const { probe: _dropped, ...group } = input.group;
    const result = renderBootstrapBundle({ ...input, group });
    if (!result.ok) throw new Error(result.refusal.message);
    expect((load(result.bundle['mesh.yaml']) as { defaultConfig: object }).defaultConfig).not.toHaveProperty(
      'readinessProbe',
    );
  });

  it('writes bootstrap.env with the version, istiod host, gateway and zone VPCs', () => {
    const result = renderBootstrapBundle(sampleInput('multi-network'));
    if (!result.ok) throw new Error(result.refusal.message);
    expect(parseEnvFile(result.bundle['bootstrap.env'])).toEqual({
      WORKLOAD_GROUP: 'bookinfo/reviews',
      ISTIO_VERSION: '1.26.2',
      ISTIOD_HOST: 'istiod.istio-system.svc',
      GATEWAY_DNS_NAME: 'internal-istio-eastwest-0123456789.elb.us-west-2.amazonaws.com',
      GATEWAY_ADDRESSES: '10.0.1.5,10.0.2.6',
      ZONE_VPC_IDS: 'vpc-0a1b2c3d4e5f60718',
    });
    expect(result.bundle['bootstrap.env']).not.toContain("'");
  });

  it('names istiod in the control-plane namespace it is given', () => {
    const result = renderBootstrapBundle(
      sampleInput('single-network', { controlPlaneNamespace: 'mesh-system' }),
    );
    if (!result.ok) throw new Error(result.refusal.message);
    expect(result.bundle.hosts).toBe('10.0.1.5 istiod.mesh-system.svc\n10.0.2.6 istiod.mesh-system.svc\n');
  });
});

describe('Helpers: shellQuote(), envFile(), canonicalService(), groupServiceAccount()', () => {
  it('quotes like istio shellescape.Quote and reads back with parseEnvFile', () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a-b.c:d,e/f@g%h+i=j')).toBe('a-b.c:d,e/f@g%h+i=j');
    expect(shellQuote("it's *")).toBe(`'it'"'"'s *'`);
    expect(parseEnvFile(envFile({ B: "it's *", A: '' }))).toEqual({ A: '', B: "it's *" });
  });

  it('falls back through the canonical labels to the workload name and "latest"', () => {
    expect(canonicalService({}, 'reviews')).toEqual({ name: 'reviews', revision: 'latest' });
    expect(canonicalService({ app: 'a', 'app.kubernetes.io/name': 'b', version: '1' }, 'w')).toEqual({
      name: 'b',
      revision: '1',
    });
  });

  it('gives a template without serviceAccount the default account', () => {
    expect(groupServiceAccount({ template: {} })).toBe('default');
    expect(groupServiceAccount({ template: { serviceAccount: 'reviews' } })).toBe('reviews');
  });
});
