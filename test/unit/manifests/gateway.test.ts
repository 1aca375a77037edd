import { describe, expect, it } from 'vitest';
import {
  GatewayPort,
  gatewayPorts,
  type KubernetesObject,
  ManifestError,
  renderGatewayManifests,
  toYaml,
} from '../../../shared/manifests/gateway.ts';
import { crdValidator } from './crd.ts';

const TG = (port: number) =>
  `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/IstioV-Gatew-${port}ABCDEF/0123456789abcdef`;
const byKind = (objects: KubernetesObject[], kind: string) => objects.filter((o) => o.kind === kind);

/** The Istio Gateway CRD's v1 schema (verbatim fixture), to validate what we render. */
const validateGatewaySpec = crdValidator('istio-crds/gateways.networking.istio.io.yaml', 'v1');

describe('Function: renderGatewayManifests() (single-network)', () => {
  const objects = renderGatewayManifests({ network: 'cluster-net', multiNetwork: false });

  it('renders the gateway Service, the istiod Gateway and its VirtualService, and no cross-network gateway', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'Service/istio-system/istio-eastwestgateway',
      'Gateway/istio-system/istiod-gateway',
      'VirtualService/istio-system/istiod-vs',
    ]);
  });

  it('gives the Service the four gateway ports, the east-west labels and the network', () => {
    const [service] = byKind(objects, 'Service');
    expect(service?.metadata.labels).toMatchObject({
      istio: 'eastwestgateway',
      app: 'istio-eastwestgateway',
      'topology.istio.io/network': 'cluster-net',
    });
    expect(service?.spec).toEqual({
      type: 'ClusterIP',
      selector: { istio: 'eastwestgateway' },
      ports: [
        { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
        { name: 'mtls', port: 15443, targetPort: 15443, protocol: 'TCP' },
        { name: 'tcp-istiod', port: 15012, targetPort: 15012, protocol: 'TCP' },
        { name: 'tcp-webhook', port: 15017, targetPort: 15017, protocol: 'TCP' },
      ],
    });
  });

  it('exposes istiod 15012 and 15017 as TLS passthrough for any host, routed to istiod 15012 and 443', () => {
    const [gateway] = byKind(objects, 'Gateway');
    expect(gateway?.apiVersion).toBe('networking.istio.io/v1');
    expect(gateway?.spec).toEqual({
      selector: { istio: 'eastwestgateway' },
      servers: [
        {
          port: { name: 'tls-istiod', number: 15012, protocol: 'TLS' },
          tls: { mode: 'PASSTHROUGH' },
          hosts: ['*'],
        },
        {
          port: { name: 'tls-istiodwebhook', number: 15017, protocol: 'TLS' },
          tls: { mode: 'PASSTHROUGH' },
          hosts: ['*'],
        },
      ],
    });
    const [virtualService] = byKind(objects, 'VirtualService');
    expect(virtualService?.spec).toEqual({
      hosts: ['*'],
      gateways: ['istiod-gateway'],
      tls: [
        {
          match: [{ port: 15012, sniHosts: ['*'] }],
          route: [
            { destination: { host: 'istiod.istio-system.svc.cluster.local', port: { number: 15012 } } },
          ],
        },
        {
          match: [{ port: 15017, sniHosts: ['*'] }],
          route: [{ destination: { host: 'istiod.istio-system.svc.cluster.local', port: { number: 443 } } }],
        },
      ],
    });
  });

  it('omits the network label when no network is given', () => {
    const [service] = renderGatewayManifests({ multiNetwork: false });
    expect(service?.metadata.labels).not.toHaveProperty('topology.istio.io/network');
  });

  it('refuses a target group for 15443, which a single-network NLB does not expose', () => {
    expect(() =>
      renderGatewayManifests({
        network: 'n',
        multiNetwork: false,
        targetGroupArns: { [GatewayPort.Mtls]: TG(15443) },
      }),
    ).toThrow(/no single-network gateway port 15443 \(ports: 15021, 15012, 15017\)/);
  });
});

describe('Function: renderGatewayManifests() (multi-network)', () => {
  const targetGroupArns = Object.fromEntries(gatewayPorts(true).map((port) => [port, TG(port)]));
  const objects = renderGatewayManifests({
    network: 'cluster-net',
    multiNetwork: true,
    targetGroupArns,
    namespace: 'mesh-gateways',
    loadBalancerSecurityGroupId: 'sg-0123456789abcdef0',
  });

  it('adds the cross-network gateway: 15443 AUTO_PASSTHROUGH for *.local', () => {
    const gateways = byKind(objects, 'Gateway');
    expect(gateways.map((g) => g.metadata.name)).toEqual(['istiod-gateway', 'cross-network-gateway']);
    expect(gateways[1]?.spec).toEqual({
      selector: { istio: 'eastwestgateway' },
      servers: [
        {
          port: { number: 15443, name: 'tls', protocol: 'TLS' },
          tls: { mode: 'AUTO_PASSTHROUGH' },
          hosts: ['*.local'],
        },
      ],
    });
  });

  it('binds each target group to the gateway Service port, IP targets, letting the NLB group in', () => {
    const bindings = byKind(objects, 'TargetGroupBinding');
    expect(bindings.map((b) => b.metadata.name)).toEqual([
      'istio-eastwestgateway-15012',
      'istio-eastwestgateway-15017',
      'istio-eastwestgateway-15021',
      'istio-eastwestgateway-15443',
    ]);
    for (const binding of bindings) {
      const port = Number(binding.metadata.name.split('-').pop());
      expect(binding.apiVersion).toBe('elbv2.k8s.aws/v1beta1');
      expect(binding.metadata.namespace).toBe('mesh-gateways');
      expect(binding.spec).toEqual({
        serviceRef: { name: 'istio-eastwestgateway', port },
        targetGroupARN: TG(port),
        targetType: 'ip',
        networking: {
          ingress: [
            {
              from: [{ securityGroup: { groupID: 'sg-0123456789abcdef0' } }],
              ports:
                port === 15021
                  ? [{ protocol: 'TCP', port }]
                  : [
                      { protocol: 'TCP', port },
                      { protocol: 'TCP', port: 15021 },
                    ],
            },
          ],
        },
      });
    }
  });

  it('renders Gateways the Istio CRD schema accepts', () => {
    for (const gateway of byKind(objects, 'Gateway')) {
      expect(validateGatewaySpec(gateway), JSON.stringify(validateGatewaySpec.errors)).toBe(true);
    }
    // The validator is not vacuous: a port without a protocol is refused.
    expect(validateGatewaySpec({ spec: { servers: [{ port: { number: 15443 } }] } })).toBe(false);
  });

  it('requires a network name, and valid names, ARNs and namespaces', () => {
    expect(() => renderGatewayManifests({ multiNetwork: true })).toThrow(
      /a multi-network gateway needs a network name/,
    );
    expect(() => renderGatewayManifests({ multiNetwork: true, network: 'bad network' })).toThrow(
      /network "bad network"/,
    );
    expect(() =>
      renderGatewayManifests({
        multiNetwork: true,
        network: 'n',
        namespace: 'Istio',
        targetGroupArns: { 15012: 'tg' },
      }),
    ).toThrow(ManifestError);
    expect(() =>
      renderGatewayManifests({
        multiNetwork: true,
        network: 'n',
        namespace: 'Istio',
        targetGroupArns: { 15012: 'tg' },
      }),
    ).toThrow(/namespace "Istio" is not a DNS-1123 label.*"tg" is not a target group ARN/);
    expect(() =>
      renderGatewayManifests({ multiNetwork: true, network: 'n', targetGroupArns: { 8080: TG(8080) } }),
    ).toThrow(/no multi-network gateway port 8080/);
  });

  it('serialises to multi-document YAML', () => {
    const yaml = toYaml(objects);
    expect(yaml.split(/^---$/m)).toHaveLength(objects.length);
    expect(yaml).toContain('topology.istio.io/network: cluster-net');
  });
});
