import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import {
  type BootstrapGroup,
  type BundleInput,
  type MeshArchitecture,
  toBootstrapGroup,
} from '../../shared/domain/bootstrap.ts';

const FIXTURES = new URL('../fixtures/bootstrap/', import.meta.url);

export const fixtureText = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
export const fixtureYaml = <T = Record<string, unknown>>(name: string): T => load(fixtureText(name)) as T;

/** The `mesh` key of the sample `istio` ConfigMap. */
export const MESH_CONFIG = fixtureYaml<{ data: { mesh: string } }>('istio-configmap.yaml').data.mesh;
export const ROOT_CERT = fixtureText('root-cert.pem');

/** The guide's sample WorkloadGroup, as a raw object; multi-network sets the VM network. */
export function sampleGroupObject(architecture: MeshArchitecture = 'single-network') {
  const raw = fixtureYaml<{
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string };
    spec: { template: { network: string } } & Record<string, unknown>;
  }>('workloadgroup.yaml');
  raw.spec.template.network = architecture === 'multi-network' ? 'vm-network' : '';
  return raw;
}

export function sampleGroup(architecture: MeshArchitecture = 'single-network'): BootstrapGroup {
  return toBootstrapGroup(sampleGroupObject(architecture));
}

/** The inputs istioctl gets in the comparison (cluster id, network), and the gateway on AWS. */
export function sampleInput(
  architecture: MeshArchitecture = 'single-network',
  overrides: Partial<BundleInput> = {},
): BundleInput {
  return {
    group: sampleGroup(architecture),
    meshConfig: MESH_CONFIG,
    rootCert: ROOT_CERT,
    clusterId: architecture === 'multi-network' ? 'cluster1' : 'Kubernetes',
    architecture,
    controlPlaneNamespace: 'istio-system',
    gateway: {
      dnsName: 'internal-istio-eastwest-0123456789.elb.us-west-2.amazonaws.com',
      addresses: ['10.0.1.5', '10.0.2.6'],
      zoneVpcIds: ['vpc-0a1b2c3d4e5f60718'],
    },
    istioVersion: '1.26.2',
    ...overrides,
  };
}
