/**
 * Kubernetes side of the east-west gateway that VMs use to reach istiod (and, in a multi-network
 * mesh, the pods), after Istio's VM guide: https://istio.io/latest/docs/setup/install/virtual-machine/
 * and its samples `samples/multicluster/{gen-eastwest-gateway.sh,expose-istiod.yaml,expose-services.yaml}`.
 *
 * The load balancer itself is an internal NLB created by CDK (infra/constructs/gateway-networking.ts)
 * with IP target groups; the AWS Load Balancer Controller keeps the gateway pods registered in them
 * through one TargetGroupBinding per port. So the gateway Service here is a plain ClusterIP Service.
 * `vm-registrar manifests gateway` prints these objects.
 */
import { ISTIO_NETWORKING_GROUP, ISTIO_NETWORKING_VERSION } from '../constants.ts';
import {
  isDns1123Label,
  isDns1123Subdomain,
  isLabelValue,
  type KubernetesObject,
  ManifestError,
  PART_OF_LABELS,
} from './kubernetes.ts';

export { type KubernetesObject, ManifestError, toYaml } from './kubernetes.ts';

/** Gateway ports, as in Istio's `gen-eastwest-gateway.sh`. */
export const GatewayPort = {
  /** Envoy readiness (`/healthz/ready`): the load balancer's health check. */
  Status: 15021,
  /** istiod xDS and CA (certificate signing), TLS passthrough to istiod:15012. */
  Istiod: 15012,
  /** istiod webhooks, TLS passthrough to istiod:443. */
  Webhook: 15017,
  /** mTLS AUTO_PASSTHROUGH data plane across networks (multi-network only). */
  Mtls: 15443,
} as const;
export type GatewayPort = (typeof GatewayPort)[keyof typeof GatewayPort];

/** Service port names, as in Istio's `gen-eastwest-gateway.sh`. */
export const GATEWAY_PORT_NAMES: Readonly<Record<GatewayPort, string>> = {
  [GatewayPort.Status]: 'status-port',
  [GatewayPort.Istiod]: 'tcp-istiod',
  [GatewayPort.Webhook]: 'tcp-webhook',
  [GatewayPort.Mtls]: 'mtls',
};

/** HTTP path of the gateway's readiness endpoint on the status port. */
export const GATEWAY_HEALTH_CHECK_PATH = '/healthz/ready';

/** Label selecting the east-west gateway pods (`istio: eastwestgateway`). */
export const EASTWEST_GATEWAY_SELECTOR: Readonly<Record<string, string>> = { istio: 'eastwestgateway' };
export const DEFAULT_GATEWAY_NAMESPACE = 'istio-system';
export const DEFAULT_GATEWAY_SERVICE_NAME = 'istio-eastwestgateway';

/**
 * Ports the load balancer exposes. Single-network: VMs reach pods directly and only need istiod
 * (15012, 15017) plus the status port. Multi-network adds 15443 for cross-network mTLS.
 */
export function gatewayPorts(multiNetwork: boolean): readonly GatewayPort[] {
  const ports: GatewayPort[] = [GatewayPort.Status, GatewayPort.Istiod, GatewayPort.Webhook];
  if (multiNetwork) ports.push(GatewayPort.Mtls);
  return ports;
}

export interface GatewayManifestOptions {
  /**
   * Name of the cluster's network (`topology.istio.io/network` on the gateway). Required for a
   * multi-network mesh; optional for a single network, as in Istio's single-cluster sample.
   */
  readonly network?: string;
  /** Render the cross-network gateway (15443, AUTO_PASSTHROUGH) as well. */
  readonly multiNetwork: boolean;
  /**
   * Target group ARN per gateway port (the gateway stack's outputs). One TargetGroupBinding is
   * rendered per entry; none when omitted.
   * @default - no TargetGroupBinding
   */
  readonly targetGroupArns?: Readonly<Partial<Record<number, string>>>;
  /**
   * Namespace of the gateway, its Service, Gateways and bindings.
   * @default 'istio-system'
   */
  readonly namespace?: string;
  /**
   * Name of the gateway Service the bindings point at.
   * @default 'istio-eastwestgateway'
   */
  readonly serviceName?: string;
  /**
   * Host of the istiod Service the istiod routes go to (`istiod-<revision>...` with revisions).
   * @default 'istiod.istio-system.svc.cluster.local'
   */
  readonly istiodHost?: string;
  /**
   * Security group of the NLB (gateway stack output). When set, each TargetGroupBinding asks the
   * AWS Load Balancer Controller to allow it into the gateway pods on that port.
   * @default - the controller leaves security groups alone
   */
  readonly loadBalancerSecurityGroupId?: string;
}

/**
 * Renders the east-west gateway Service, the Istio Gateway + VirtualService exposing istiod (15012,
 * 15017, TLS passthrough, hosts `*`), for multi-network the `cross-network-gateway` (15443,
 * AUTO_PASSTHROUGH, `*.local`), and a TargetGroupBinding per given target group.
 *
 * @throws {ManifestError} on a missing or malformed network, a bad namespace or name, or a target
 *   group for a port the architecture does not expose.
 */
export function renderGatewayManifests(options: GatewayManifestOptions): KubernetesObject[] {
  const namespace = options.namespace ?? DEFAULT_GATEWAY_NAMESPACE;
  const serviceName = options.serviceName ?? DEFAULT_GATEWAY_SERVICE_NAME;
  const istiodHost = options.istiodHost ?? 'istiod.istio-system.svc.cluster.local';
  const ports = gatewayPorts(options.multiNetwork);
  const targetGroups = Object.entries(options.targetGroupArns ?? {}).filter(
    (entry): entry is [string, string] => entry[1] !== undefined,
  );
  validate(options, namespace, serviceName, ports, targetGroups);

  const labels: Record<string, string> = {
    ...EASTWEST_GATEWAY_SELECTOR,
    app: serviceName,
    ...(options.network ? { 'topology.istio.io/network': options.network } : {}),
    ...PART_OF_LABELS,
  };
  const istioVersion = `${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}`;
  const objects: KubernetesObject[] = [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: serviceName, namespace, labels },
      spec: {
        type: 'ClusterIP',
        selector: EASTWEST_GATEWAY_SELECTOR,
        // Every port, whatever the architecture, as Istio's sample does: the Service is the
        // gateway's identity inside the mesh; the NLB decides what is reachable from the VMs.
        ports: [GatewayPort.Status, GatewayPort.Mtls, GatewayPort.Istiod, GatewayPort.Webhook].map(
          (port) => ({
            name: GATEWAY_PORT_NAMES[port],
            port,
            targetPort: port,
            protocol: 'TCP',
          }),
        ),
      },
    },
    {
      apiVersion: istioVersion,
      kind: 'Gateway',
      metadata: { name: 'istiod-gateway', namespace, labels: PART_OF_LABELS },
      spec: {
        selector: EASTWEST_GATEWAY_SELECTOR,
        servers: [
          passthroughServer('tls-istiod', GatewayPort.Istiod),
          passthroughServer('tls-istiodwebhook', GatewayPort.Webhook),
        ],
      },
    },
    {
      apiVersion: istioVersion,
      kind: 'VirtualService',
      metadata: { name: 'istiod-vs', namespace, labels: PART_OF_LABELS },
      spec: {
        hosts: ['*'],
        gateways: ['istiod-gateway'],
        tls: [
          tlsRoute(GatewayPort.Istiod, istiodHost, 15012),
          // The webhook listens on 15017 in the pod but istiod's Service exposes it as 443.
          tlsRoute(GatewayPort.Webhook, istiodHost, 443),
        ],
      },
    },
  ];

  if (options.multiNetwork) {
    objects.push({
      apiVersion: istioVersion,
      kind: 'Gateway',
      metadata: { name: 'cross-network-gateway', namespace, labels: PART_OF_LABELS },
      spec: {
        selector: EASTWEST_GATEWAY_SELECTOR,
        servers: [
          {
            port: { number: GatewayPort.Mtls, name: 'tls', protocol: 'TLS' },
            tls: { mode: 'AUTO_PASSTHROUGH' },
            hosts: ['*.local'],
          },
        ],
      },
    });
  }

  for (const [portKey, arn] of targetGroups.sort(([a], [b]) => Number(a) - Number(b))) {
    const port = Number(portKey);
    objects.push({
      apiVersion: 'elbv2.k8s.aws/v1beta1',
      kind: 'TargetGroupBinding',
      metadata: { name: `${serviceName}-${port}`, namespace, labels: PART_OF_LABELS },
      spec: {
        serviceRef: { name: serviceName, port },
        targetGroupARN: arn,
        targetType: 'ip',
        ...(options.loadBalancerSecurityGroupId
          ? {
              networking: {
                ingress: [
                  {
                    from: [{ securityGroup: { groupID: options.loadBalancerSecurityGroupId } }],
                    ports: [{ protocol: 'TCP', port }, ...healthCheckPort(port)],
                  },
                ],
              },
            }
          : {}),
      },
    });
  }
  return objects;
}

function passthroughServer(name: string, port: number): Record<string, unknown> {
  return { port: { name, number: port, protocol: 'TLS' }, tls: { mode: 'PASSTHROUGH' }, hosts: ['*'] };
}

function tlsRoute(port: number, host: string, targetPort: number): Record<string, unknown> {
  return {
    match: [{ port, sniHosts: ['*'] }],
    route: [{ destination: { host, port: { number: targetPort } } }],
  };
}

/** Health checks go to the status port whatever the traffic port, so the NLB must reach it too. */
function healthCheckPort(port: number): Array<{ protocol: string; port: number }> {
  return port === GatewayPort.Status ? [] : [{ protocol: 'TCP', port: GatewayPort.Status }];
}

const ARN =
  /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/;

function validate(
  options: GatewayManifestOptions,
  namespace: string,
  serviceName: string,
  ports: readonly GatewayPort[],
  targetGroups: ReadonlyArray<readonly [string, string]>,
): void {
  const problems: string[] = [];
  if (options.network !== undefined && !(options.network !== '' && isLabelValue(options.network))) {
    problems.push(
      `network "${options.network}" is not a valid label value (63 characters, alphanumeric ends)`,
    );
  }
  if (options.multiNetwork && !options.network) problems.push('a multi-network gateway needs a network name');
  if (!isDns1123Label(namespace)) problems.push(`namespace "${namespace}" is not a DNS-1123 label`);
  if (!isDns1123Label(serviceName) || serviceName.length > 57) {
    problems.push(`serviceName "${serviceName}" is not a DNS-1123 label of at most 57 characters`);
  }
  if (!isDns1123Subdomain(options.istiodHost ?? 'istiod')) {
    problems.push(`istiodHost "${options.istiodHost}" is not a DNS name`);
  }
  for (const [portKey, arn] of targetGroups) {
    if (!(ports as readonly number[]).includes(Number(portKey))) {
      problems.push(
        `no ${options.multiNetwork ? 'multi' : 'single'}-network gateway port ${portKey} (ports: ${ports.join(', ')})`,
      );
    }
    if (!ARN.test(arn)) {
      problems.push(
        `"${arn}" is not a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)`,
      );
    }
  }
  if (problems.length > 0) throw new ManifestError('renderGatewayManifests', problems);
}
