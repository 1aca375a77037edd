import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { GATEWAY_PORT_NAMES } from '#shared/manifests/gateway.ts';
import {
  GatewayNetworking,
  type GatewayNetworkingProps,
  type MeshArchitecture,
} from '../constructs/gateway-networking.ts';

export interface GatewayNetworkingStackProps extends StackProps {
  readonly architecture: MeshArchitecture;
  /** VPC of the EKS cluster (imported, no lookup). */
  readonly clusterVpc: ec2.VpcAttributes;
  /**
   * VPC of the VMs (imported). Required for multi-network.
   * @default - the cluster VPC
   */
  readonly vmVpc?: ec2.VpcAttributes;
  /** Security groups of the VMs: the only sources admitted to the gateway. */
  readonly vmSecurityGroupIds: readonly string[];
  /**
   * ARNs allowed to connect to the endpoint service (multi-network).
   * @default - this account's root
   */
  readonly endpointAllowedPrincipals?: readonly string[];
  /** Remaining GatewayNetworking settings. */
  readonly gateway?: Omit<
    GatewayNetworkingProps,
    'architecture' | 'clusterVpc' | 'vmVpc' | 'vmSecurityGroups' | 'allowedPrincipals'
  >;
}

/** The east-west gateway's AWS networking, with everything a VM bootstrap and the cluster admin need as outputs. */
export class GatewayNetworkingStack extends Stack {
  public readonly gateway: GatewayNetworking;

  constructor(scope: Construct, id: string, props: GatewayNetworkingStackProps) {
    super(scope, id, {
      description: `istio-vm-registrar: east-west gateway networking (${props.architecture})`,
      ...props,
    });
    const clusterVpc = ec2.Vpc.fromVpcAttributes(this, 'ClusterVpc', props.clusterVpc);
    const vmVpc = props.vmVpc ? ec2.Vpc.fromVpcAttributes(this, 'VmVpc', props.vmVpc) : undefined;
    for (const vpc of [clusterVpc, vmVpc]) {
      if (vpc) acknowledgeNoRouteTables(vpc);
    }
    const vmSecurityGroups = props.vmSecurityGroupIds.map((groupId) =>
      ec2.SecurityGroup.fromSecurityGroupId(this, `VmSecurityGroup-${groupId}`, groupId, { mutable: false }),
    );
    this.gateway = new GatewayNetworking(this, 'Gateway', {
      ...props.gateway,
      architecture: props.architecture,
      clusterVpc,
      ...(vmVpc ? { vmVpc } : {}),
      vmSecurityGroups,
      ...(props.endpointAllowedPrincipals
        ? { allowedPrincipals: props.endpointAllowedPrincipals.map((arn) => new iam.ArnPrincipal(arn)) }
        : {}),
    });

    const output = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description });
    const gateway = this.gateway;
    output('Architecture', props.architecture, 'Mesh network architecture');
    output(
      'GatewayAddress',
      gateway.gatewayAddress,
      'DNS name VMs connect to (NLB, or the interface endpoint for multi-network)',
    );
    output('IstiodHost', gateway.istiodHost, 'istiod host name VMs resolve through the private hosted zone');
    output('HostedZoneId', gateway.hostedZone.hostedZoneId, 'Private hosted zone associated with the VM VPC');
    output('HostedZoneName', gateway.hostedZone.zoneName, 'Name of the private hosted zone');
    output(
      'LoadBalancerArn',
      gateway.loadBalancer.loadBalancerArn,
      'Internal NLB in front of the east-west gateway',
    );
    output(
      'LoadBalancerSecurityGroupId',
      gateway.loadBalancerSecurityGroup.securityGroupId,
      'NLB security group: allow it into the gateway pods on the gateway ports and 15021',
    );
    for (const [port, targetGroup] of gateway.targetGroups) {
      output(
        `TargetGroupArn${port}`,
        targetGroup.targetGroupArn,
        `Target group of port ${port} (${GATEWAY_PORT_NAMES[port]})`,
      );
      output(`TargetGroupName${port}`, targetGroup.targetGroupName, `Target group name of port ${port}`);
    }
    if (gateway.endpointService && gateway.endpoint && gateway.endpointSecurityGroup) {
      output(
        'EndpointServiceName',
        gateway.endpointService.vpcEndpointServiceName,
        'PrivateLink service in front of the NLB',
      );
      output('EndpointId', gateway.endpoint.vpcEndpointId, 'Interface endpoint in the VM VPC');
      output(
        'EndpointSecurityGroupId',
        gateway.endpointSecurityGroup.securityGroupId,
        'Security group of the interface endpoint',
      );
    }
  }
}

/** Imported VPCs here only place resources in subnets; their route tables are never read. */
export function acknowledgeNoRouteTables(vpc: ec2.IVpc): void {
  Validations.of(vpc).acknowledge({
    id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
    reason:
      'The imported subnets only place the NLB, the interface endpoint or the functions; no route table is read or changed.',
  });
}
