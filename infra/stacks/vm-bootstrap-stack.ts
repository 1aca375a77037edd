import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { parseBootstrapGroup } from '#shared/config/bootstrap-config.ts';
import { ClusterAccess } from '../constructs/cluster-access.ts';
import { VmBootstrap, type VmBootstrapProps } from '../constructs/vm-bootstrap.ts';
import { acknowledgeNoRouteTables } from './gateway-networking-stack.ts';

export interface VmBootstrapStackProps extends StackProps {
  /** Everything but the groups' roles, VPC and topic (given as ids below). */
  readonly bootstrap: Omit<
    VmBootstrapProps,
    'groups' | 'vpc' | 'vpcSubnets' | 'securityGroups' | 'alarmTopic'
  >;
  /** Opted-in groups, `namespace/name[:serviceaccount]`. */
  readonly groups: readonly string[];
  /**
   * Instance role ARNs per group (`namespace/name` -> ARNs): each gets read of its group's parameters.
   * @default - none (grant later with VmBootstrap.grantRead)
   */
  readonly instanceRoleArns?: Readonly<Record<string, readonly string[]>>;
  /** @default - outside any VPC */
  readonly functionsVpc?: ec2.VpcAttributes;
  /** Apply the function's RBAC with the kubectl provider (needs `kubectlRoleArn`). @default false */
  readonly applyRbac?: boolean;
  /** @default - none */
  readonly kubectlRoleArn?: string;
  /** @default - alarms without actions */
  readonly alarmTopicArn?: string;
}

/** The VM bootstrap function, its key, schedule, alarms, instance role grants and cluster access. */
export class VmBootstrapStack extends Stack {
  public readonly bootstrap: VmBootstrap;
  public readonly clusterAccess: ClusterAccess;

  constructor(scope: Construct, id: string, props: VmBootstrapStackProps) {
    super(scope, id, {
      description:
        'istio-vm-registrar: VM bootstrap bundles and istio-ca token rotation in SSM Parameter Store',
      ...props,
    });
    const vpc = props.functionsVpc ? ec2.Vpc.fromVpcAttributes(this, 'Vpc', props.functionsVpc) : undefined;
    if (vpc) acknowledgeNoRouteTables(vpc);
    const roles = (group: string) => {
      const ref = parseBootstrapGroup(group);
      const key = `${ref.namespace}/${ref.name}`;
      return (props.instanceRoleArns?.[key] ?? []).map((arn, i) =>
        iam.Role.fromRoleArn(this, `InstanceRole-${ref.namespace}-${ref.name}-${i}`, arn, { mutable: true }),
      );
    };
    this.bootstrap = new VmBootstrap(this, 'Bootstrap', {
      ...props.bootstrap,
      groups: props.groups.map((group) => ({ group, instanceRoles: roles(group) })),
      ...(vpc ? { vpc } : {}),
      ...(props.alarmTopicArn
        ? { alarmTopic: sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) }
        : {}),
    });
    this.clusterAccess = new ClusterAccess(this, 'ClusterAccess', {
      clusterName: props.bootstrap.clusterName,
      roles: [this.bootstrap.function.role!],
      kubernetesGroup: this.bootstrap.kubernetesGroup,
      rbacManifests: this.bootstrap.rbacManifests(),
      ...(props.applyRbac ? { applyRbac: true } : {}),
      ...(props.kubectlRoleArn ? { kubectlRoleArn: props.kubectlRoleArn } : {}),
      ...(vpc && props.functionsVpc
        ? {
            kubectlVpc: vpc,
            kubectlPrivateSubnetIds: props.functionsVpc.privateSubnetIds ?? [],
            kubectlSecurityGroup: this.bootstrap.securityGroups[0]!,
          }
        : {}),
    });
    const output = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description });
    output(
      'BootstrapFunctionName',
      this.bootstrap.function.functionName,
      'VM bootstrap function (invoke with {} or {"groups":["ns/name"]})',
    );
    output(
      'BootstrapRoleArn',
      this.bootstrap.function.role!.roleArn,
      'IAM role of the bootstrap function (EKS access entry)',
    );
    output(
      'BootstrapKubernetesGroup',
      this.bootstrap.kubernetesGroup,
      'Kubernetes group of the function: bind it with `vm-registrar bootstrap rbac`',
    );
    output(
      'BootstrapParameterPrefix',
      this.bootstrap.parameterPrefix,
      "SSM path of the groups' bundles and tokens",
    );
    output('BootstrapTokenKeyArn', this.bootstrap.key.keyArn, 'KMS key of the token SecureStrings');
    output(
      'BootstrapScheduleName',
      this.bootstrap.schedule.scheduleName,
      'EventBridge Scheduler schedule of the bootstrap function',
    );
  }
}
