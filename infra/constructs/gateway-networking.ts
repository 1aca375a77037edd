import { Duration, Fn, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import {
  GATEWAY_HEALTH_CHECK_PATH,
  GATEWAY_PORT_NAMES,
  GatewayPort,
  gatewayPorts,
} from '#shared/manifests/gateway.ts';

/** How VMs and pods reach each other (see docs/deployment.md). */
export type MeshArchitecture = 'single-network' | 'multi-network';
export const MESH_ARCHITECTURES: readonly MeshArchitecture[] = ['single-network', 'multi-network'];

export interface GatewayNetworkingProps {
  /**
   * single-network: VMs route to the cluster VPC; an internal NLB there exposes istiod through the
   * east-west gateway. multi-network: VMs live in another VPC with no route to the pods; the NLB is
   * reached through PrivateLink and also carries the cross-network mTLS port 15443.
   */
  readonly architecture: MeshArchitecture;
  /** VPC of the EKS cluster: the NLB and its IP target groups (the gateway pods) live here. */
  readonly clusterVpc: ec2.IVpc;
  /**
   * Subnets of the NLB in the cluster VPC.
   * @default - the cluster VPC's private subnets
   */
  readonly clusterSubnets?: ec2.SubnetSelection;
  /** Security groups of the VMs: the only sources allowed to the gateway ports. */
  readonly vmSecurityGroups: readonly ec2.ISecurityGroup[];
  /**
   * VPC of the VMs. Required for multi-network (the interface endpoint goes there). For
   * single-network, a VPC routed to the cluster VPC (peering, Transit Gateway), also associated with
   * the private hosted zone.
   * @default - the cluster VPC (single-network only)
   */
  readonly vmVpc?: ec2.IVpc;
  /**
   * Subnets of the interface endpoint in the VM VPC (multi-network). Its AZs must be among the NLB's.
   * @default - the VM VPC's private subnets
   */
  readonly vmSubnets?: ec2.SubnetSelection;
  /**
   * Private hosted zone the VMs resolve istiod in, associated with the VM VPC.
   * @default 'istio-system.svc'
   */
  readonly hostedZoneName?: string;
  /**
   * Record in the zone pointing at the gateway: `istiod.istio-system.svc` with the defaults, the
   * name the Istio VM bootstrap (`istioctl x workload entry configure`) writes into the VMs' config.
   * @default 'istiod'
   */
  readonly istiodRecordName?: string;
  /**
   * Whether connections to the endpoint service wait for manual acceptance (multi-network). The
   * endpoint created here then stays pendingAcceptance until accepted.
   * @default false
   */
  readonly acceptanceRequired?: boolean;
  /**
   * Principals allowed to connect endpoints to the endpoint service (multi-network).
   * @default - this account's root (any principal of this account that IAM allows)
   */
  readonly allowedPrincipals?: readonly iam.ArnPrincipal[];
  /**
   * Cross-zone load balancing of the NLB. On by default: the gateway usually runs fewer replicas than
   * the VPC has AZs, and with PrivateLink each endpoint interface only talks to the NLB node of its
   * own AZ; without cross-zone, VMs in an AZ with no gateway pod could not reach istiod at all.
   * @default true
   */
  readonly crossZoneEnabled?: boolean;
  /**
   * How long a deregistering gateway pod keeps receiving new connections.
   * @default Duration.seconds(60)
   */
  readonly deregistrationDelay?: Duration;
  /** @default false */
  readonly deletionProtection?: boolean;
}

/**
 * AWS networking for Istio's east-west gateway as the VMs' way in (ports 15021 health, 15012 istiod
 * xDS/CA, 15017 webhooks, 15443 cross-network mTLS): an internal NLB with one IP target group per
 * port (the AWS Load Balancer Controller binds the gateway pods to them, see
 * shared/manifests/gateway.ts), reachable only from the VMs' security groups, directly
 * (single-network) or through a PrivateLink endpoint service and an interface endpoint in the VM
 * VPC (multi-network); and a private hosted zone that resolves `istiod.istio-system.svc` to it.
 */
export class GatewayNetworking extends Construct {
  public readonly architecture: MeshArchitecture;
  public readonly ports: readonly GatewayPort[];
  public readonly loadBalancer: elbv2.NetworkLoadBalancer;
  public readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  /** One IP target group per exposed port. */
  public readonly targetGroups: ReadonlyMap<GatewayPort, elbv2.NetworkTargetGroup>;
  public readonly endpointService?: ec2.VpcEndpointService;
  public readonly endpoint?: ec2.InterfaceVpcEndpoint;
  public readonly endpointSecurityGroup?: ec2.SecurityGroup;
  public readonly hostedZone: route53.PrivateHostedZone;
  public readonly istiodRecord: route53.ARecord;
  /** Fully qualified name the VMs use for istiod (`istiod.istio-system.svc`). */
  public readonly istiodHost: string;
  /** DNS name of what the VMs connect to: the NLB, or the interface endpoint (multi-network). */
  public readonly gatewayAddress: string;
  /** The security group the VM rules are on (NLB for single-network, endpoint for multi-network). */
  private readonly ingressGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: GatewayNetworkingProps) {
    super(scope, id);
    validate(this, props);
    this.architecture = props.architecture;
    const multiNetwork = props.architecture === 'multi-network';
    this.ports = gatewayPorts(multiNetwork);
    const vmVpc = props.vmVpc ?? props.clusterVpc;

    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.clusterVpc,
      description: multiNetwork
        ? 'istio east-west gateway NLB: reached only through PrivateLink, no direct ingress'
        : 'istio east-west gateway NLB: gateway ports from the VM security groups only',
      allowAllOutbound: false,
    });
    // Out only to the gateway pods (IP targets), on the listener ports and the health port. The
    // pods' addresses are the cluster's pod CIDRs, which an imported VPC does not reveal: the rule
    // narrows by port; the pods' own security group narrows by source.
    for (const port of new Set<GatewayPort>([...gatewayPorts(multiNetwork), GatewayPort.Status])) {
      this.loadBalancerSecurityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(port),
        `to the east-west gateway pods: ${GATEWAY_PORT_NAMES[port]}`,
      );
    }
    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.clusterVpc,
      internetFacing: false,
      ...(props.clusterSubnets ? { vpcSubnets: props.clusterSubnets } : {}),
      crossZoneEnabled: props.crossZoneEnabled ?? true,
      securityGroups: [this.loadBalancerSecurityGroup],
      deletionProtection: props.deletionProtection ?? false,
      // PrivateLink traffic is filtered by the endpoint's security group in the VM VPC, where the
      // VM security groups can be referenced; the NLB group admits nothing else.
      ...(multiNetwork ? { enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: false } : {}),
    });
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason:
        'Every listener is TCP (TLS passthrough to the gateway); NLB access logs are written only for TLS listeners (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-access-logs.html), so they would stay empty. Use VPC flow logs for connection records.',
    });

    const targetGroups = new Map<GatewayPort, elbv2.NetworkTargetGroup>();
    for (const port of this.ports) {
      const targetGroup = new elbv2.NetworkTargetGroup(this, `TargetGroup${port}`, {
        vpc: props.clusterVpc,
        port,
        protocol: elbv2.Protocol.TCP,
        targetType: elbv2.TargetType.IP,
        deregistrationDelay: props.deregistrationDelay ?? Duration.seconds(60),
        healthCheck: {
          protocol: elbv2.Protocol.HTTP,
          port: String(GatewayPort.Status),
          path: GATEWAY_HEALTH_CHECK_PATH,
          interval: Duration.seconds(10),
          healthyThresholdCount: 2,
          unhealthyThresholdCount: 2,
        },
      });
      this.loadBalancer.addListener(`Listener${port}`, {
        port,
        protocol: elbv2.Protocol.TCP,
        defaultTargetGroups: [targetGroup],
      });
      targetGroups.set(port, targetGroup);
    }
    this.targetGroups = targetGroups;

    if (multiNetwork) {
      this.endpointService = new ec2.VpcEndpointService(this, 'EndpointService', {
        vpcEndpointServiceLoadBalancers: [this.loadBalancer],
        acceptanceRequired: props.acceptanceRequired ?? false,
        allowedPrincipals: [...(props.allowedPrincipals ?? [new iam.AccountRootPrincipal()])],
      });
      this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: vmVpc,
        description: 'istio east-west gateway endpoint: gateway ports from the VM security groups only',
        allowAllOutbound: false,
      });
      this.endpoint = new ec2.InterfaceVpcEndpoint(this, 'Endpoint', {
        vpc: vmVpc,
        service: new ec2.InterfaceVpcEndpointService(
          this.endpointService.vpcEndpointServiceName,
          GatewayPort.Istiod,
        ),
        ...(props.vmSubnets ? { subnets: props.vmSubnets } : {}),
        securityGroups: [this.endpointSecurityGroup],
        privateDnsEnabled: false,
        open: false,
        lookupSupportedAzs: false,
      });
      // The endpoint can only connect once this account is on the service's allow-list.
      this.endpoint.node.addDependency(this.endpointService);
      this.ingressGroup = this.endpointSecurityGroup;
      // The first DNS entry is the regional name: "<hosted zone id>:<dns name>".
      this.gatewayAddress = Fn.select(1, Fn.split(':', Fn.select(0, this.endpoint.vpcEndpointDnsEntries)));
    } else {
      this.ingressGroup = this.loadBalancerSecurityGroup;
      this.gatewayAddress = this.loadBalancer.loadBalancerDnsName;
    }
    for (const group of props.vmSecurityGroups) this.allowFrom(group, 'VM security group');

    const zoneName = props.hostedZoneName ?? 'istio-system.svc';
    const recordName = props.istiodRecordName ?? 'istiod';
    this.hostedZone = new route53.PrivateHostedZone(this, 'HostedZone', {
      zoneName,
      vpc: vmVpc,
      comment: 'istio-vm-registrar: istiod for VMs through the east-west gateway',
    });
    this.istiodRecord = new route53.ARecord(this, 'IstiodRecord', {
      zone: this.hostedZone,
      recordName,
      target: route53.RecordTarget.fromAlias(
        this.endpoint
          ? new route53Targets.InterfaceVpcEndpointTarget(this.endpoint)
          : new route53Targets.LoadBalancerTarget(this.loadBalancer),
      ),
    });
    this.istiodHost = `${recordName}.${zoneName}`;
  }

  /**
   * Admits `peer` to every gateway port: on the NLB's security group (single-network) or on the
   * interface endpoint's (multi-network). Seam for more VM fleets or CIDRs.
   */
  public allowFrom(peer: ec2.IPeer, description = 'VMs'): void {
    for (const port of this.ports) {
      this.ingressGroup.addIngressRule(
        peer,
        ec2.Port.tcp(port),
        `${description}: ${GATEWAY_PORT_NAMES[port]}`,
      );
    }
  }
}

function validate(scope: Construct, props: GatewayNetworkingProps): void {
  const problems: string[] = [];
  if (!MESH_ARCHITECTURES.includes(props.architecture)) {
    problems.push(`architecture "${props.architecture}" must be one of ${MESH_ARCHITECTURES.join(', ')}`);
  }
  if (props.architecture === 'multi-network') {
    if (!props.vmVpc) problems.push('multi-network needs vmVpc (the VPC of the VMs)');
    else if (
      !Token.isUnresolved(props.vmVpc.vpcId) &&
      !Token.isUnresolved(props.clusterVpc.vpcId) &&
      props.vmVpc.vpcId === props.clusterVpc.vpcId
    ) {
      problems.push('multi-network needs a vmVpc other than the cluster VPC (same VPC means single-network)');
    }
  } else {
    if (props.acceptanceRequired !== undefined)
      problems.push('acceptanceRequired applies to multi-network only');
    if (props.allowedPrincipals !== undefined)
      problems.push('allowedPrincipals applies to multi-network only');
    if (props.vmSubnets !== undefined) problems.push('vmSubnets applies to multi-network only');
  }
  if (props.vmSecurityGroups.length === 0) {
    problems.push('vmSecurityGroups must name at least one security group (the only sources admitted)');
  }
  const zoneName = props.hostedZoneName ?? 'istio-system.svc';
  if (!/^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(zoneName)) {
    problems.push(`hostedZoneName "${zoneName}" is not a lower-case DNS name`);
  }
  const recordName = props.istiodRecordName ?? 'istiod';
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(recordName)) {
    problems.push(`istiodRecordName "${recordName}" is not a single DNS label`);
  }
  if (problems.length > 0) {
    throw new Error(`GatewayNetworking (${scope.node.path}): invalid configuration: ${problems.join('; ')}`);
  }
}
