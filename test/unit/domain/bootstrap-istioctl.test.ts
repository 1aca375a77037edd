import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  type BootstrapBundle,
  instanceClusterEnv,
  type MeshArchitecture,
  parseEnvFile,
  renderBootstrapBundle,
} from '../../../shared/domain/bootstrap.ts';
import { workloadEntryName } from '../../../shared/domain/workload-entry.ts';
import { fixtureText, sampleInput } from '../../helpers/bootstrap.ts';

/**
 * The rendered files against what `istioctl x workload entry configure` writes for the same inputs
 * (test/fixtures/bootstrap/istioctl, derived from istioctl's source). Every difference allowed here
 * is one README.md lists under "VM bootstrap: compared with istioctl".
 */
function render(architecture: MeshArchitecture, addresses = ['10.0.1.5']): BootstrapBundle {
  const input = sampleInput(architecture);
  const result = renderBootstrapBundle({ ...input, gateway: { ...input.gateway, addresses } });
  if (!result.ok) throw new Error(result.refusal.message);
  return result.bundle;
}

describe.each(['single-network', 'multi-network'] as const)('Bundle vs istioctl (%s)', (architecture) => {
  const istioctl = (file: string) => fixtureText(`istioctl/${architecture}/${file}`);

  it('cluster.env: the group file has every key istioctl writes, with the same value', () => {
    // Prepare
    const expected = parseEnvFile(istioctl('cluster.env'));
    // Act
    const actual = parseEnvFile(render(architecture)['cluster.env']);
    // Assess
    expect(actual).toEqual(expected);
    expect(render(architecture)['cluster.env']).toBe(istioctl('cluster.env'));
  });

  it('cluster.env on the instance adds only the entry name and the private address', () => {
    const expected = parseEnvFile(istioctl('cluster.env'));
    const installed = parseEnvFile(
      instanceClusterEnv(render(architecture)['cluster.env'], {
        groupName: 'reviews',
        instanceId: 'i-0123456789abcdef0',
        privateIp: '10.0.3.17',
      }),
    );
    const added = Object.keys(installed).filter((key) => !(key in expected));
    expect(added.sort()).toEqual(['ISTIO_META_WORKLOAD_ENTRY', 'ISTIO_SVC_IP']);
    expect(installed.ISTIO_META_WORKLOAD_ENTRY).toBe(workloadEntryName('reviews', 'i-0123456789abcdef0'));
    expect(installed.ISTIO_SVC_IP).toBe('10.0.3.17');
    for (const key of Object.keys(expected)) expect(installed[key], key).toBe(expected[key]);
  });

  it('mesh.yaml: the same proxy config, key by key, readiness probe included', () => {
    const expected = load(istioctl('mesh.yaml'));
    const actual = load(render(architecture)['mesh.yaml']) as {
      defaultConfig: { readinessProbe: unknown; proxyMetadata: Record<string, string> };
    };
    expect(actual).toEqual(expected);
    expect(actual.defaultConfig.readinessProbe).toEqual({
      httpGet: { path: '/ready', port: 9080 },
      initialDelaySeconds: 1,
      periodSeconds: 5,
    });
  });

  it('hosts: the same line for one gateway address, one line per address for more', () => {
    expect(render(architecture).hosts).toBe(istioctl('hosts'));
    expect(render(architecture, ['10.0.2.6', '10.0.1.5']).hosts).toBe(
      '10.0.1.5 istiod.istio-system.svc\n10.0.2.6 istiod.istio-system.svc\n',
    );
  });

  it('root-cert.pem: the ConfigMap value as is', () => {
    expect(render(architecture)['root-cert.pem']).toBe(fixtureText('root-cert.pem'));
  });
});

describe('Bundle vs istioctl: intended differences', () => {
  it('labels: the group metadata labels win over the template labels, as on the WorkloadEntry', () => {
    // istioctl lets template labels override (and warns); the registrar's entry does the opposite.
    const input = sampleInput('single-network');
    const group = { ...input.group, template: { ...input.group.template, labels: { version: 'v2' } } };
    const result = renderBootstrapBundle({ ...input, group });
    if (!result.ok) throw new Error(result.refusal.message);
    const env = parseEnvFile(result.bundle['cluster.env']);
    expect(JSON.parse(env.ISTIO_METAJSON_LABELS!)).toMatchObject({ version: 'v1' });
    expect(env.CANONICAL_REVISION).toBe('v1');
  });

  it('no ISTIO_META_AUTO_REGISTER_GROUP: the registrar, not istiod, creates the entries', () => {
    const env = parseEnvFile(render('single-network')['cluster.env']);
    expect(env).not.toHaveProperty('ISTIO_META_AUTO_REGISTER_GROUP');
  });

  it('inbound ports in ascending order (istioctl follows Go map order)', () => {
    const input = sampleInput('single-network');
    const group = {
      ...input.group,
      template: { ...input.group.template, ports: { metrics: 9100, grpc: 7070, http: 9080 } },
    };
    const result = renderBootstrapBundle({ ...input, group });
    if (!result.ok) throw new Error(result.refusal.message);
    expect(parseEnvFile(result.bundle['cluster.env']).ISTIO_INBOUND_PORTS).toBe('7070,9080,9100');
  });
});
