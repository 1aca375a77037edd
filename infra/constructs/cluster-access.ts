import { KubectlV33Layer } from '@aws-cdk/lambda-layer-kubectl-v33';
import { Token, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import {
  DEFAULT_KUBERNETES_GROUP,
  type KubernetesObject,
  renderRbacManifests,
} from '#shared/manifests/rbac.ts';

export interface ClusterAccessProps {
  /** Name of the EKS cluster. Its authentication mode must be API or API_AND_CONFIG_MAP. */
  readonly clusterName: string;
  /** IAM roles to map (the functions' execution roles); one access entry each. */
  readonly roles: readonly iam.IRole[];
  /**
   * Kubernetes group the roles are mapped to; RBAC grants it its permissions. No EKS access
   * policy is associated.
   * @default 'istio-vm-registrar'
   */
  readonly kubernetesGroup?: string;
  /**
   * Namespaces the RBAC is rendered for (the functions' allowed namespaces). Needed only with
   * `applyRbac`.
   * @default - none
   */
  readonly namespaces?: readonly string[];
  /**
   * Apply the RBAC manifests (shared/manifests/rbac.ts) with the CDK kubectl provider. Off by
   * default: most clusters keep RBAC in their own GitOps flow (`vm-registrar rbac | kubectl apply -f -`).
   * @default false
   */
  readonly applyRbac?: boolean;
  /**
   * Role the kubectl provider assumes; it must already be a cluster admin (access entry with
   * AmazonEKSClusterAdminPolicy, or system:masters). Required with `applyRbac`.
   * @default - none
   */
  readonly kubectlRoleArn?: string;
  /**
   * Where the kubectl provider runs when the cluster endpoint is private.
   * @default - outside any VPC (public endpoint)
   */
  readonly kubectlVpc?: ec2.IVpc;
  /** @default - none; required with `kubectlVpc` */
  readonly kubectlPrivateSubnetIds?: readonly string[];
  /** @default - none; required with `kubectlVpc` */
  readonly kubectlSecurityGroup?: ec2.ISecurityGroup;
  /**
   * RBAC objects applied with `applyRbac` instead of the registrar's (`renderRbacManifests` for
   * `namespaces`): the VM bootstrap function's, for instance.
   * @default - the registrar's RBAC for `namespaces`
   */
  readonly rbacManifests?: readonly KubernetesObject[];
}

/**
 * Lets the functions into the cluster: an EKS access entry per role mapping it to a Kubernetes
 * group (no access policy, so RBAC alone decides), and optionally the RBAC objects themselves
 * applied through the CDK kubectl provider.
 */
export class ClusterAccess extends Construct {
  public readonly kubernetesGroup: string;
  public readonly accessEntries: eks.CfnAccessEntry[] = [];
  /** The applied RBAC manifest, when `applyRbac` is set. */
  public readonly rbacManifest?: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: ClusterAccessProps) {
    super(scope, id);
    this.kubernetesGroup = props.kubernetesGroup ?? DEFAULT_KUBERNETES_GROUP;
    validate(this, props, this.kubernetesGroup);

    props.roles.forEach((role, index) => {
      this.accessEntries.push(
        new eks.CfnAccessEntry(this, `AccessEntry${index}`, {
          clusterName: props.clusterName,
          principalArn: role.roleArn,
          type: 'STANDARD',
          kubernetesGroups: [this.kubernetesGroup],
        }),
      );
    });

    if (props.applyRbac) {
      const cluster = eks.Cluster.fromClusterAttributes(this, 'Cluster', {
        clusterName: props.clusterName,
        kubectlRoleArn: props.kubectlRoleArn!,
        kubectlLayer: new KubectlV33Layer(this, 'KubectlLayer'),
        ...(props.kubectlVpc
          ? {
              vpc: props.kubectlVpc,
              kubectlPrivateSubnetIds: [...(props.kubectlPrivateSubnetIds ?? [])],
              kubectlSecurityGroupId: props.kubectlSecurityGroup!.securityGroupId,
            }
          : {}),
      });
      this.rbacManifest = new eks.KubernetesManifest(this, 'Rbac', {
        cluster,
        manifest: props.rbacManifests
          ? props.rbacManifests.map((object) => ({ ...object }))
          : renderRbacManifests({ namespaces: props.namespaces ?? [], group: this.kubernetesGroup }),
        overwrite: true,
      });
      acknowledgeKubectlProvider(eks.KubectlProvider.getOrCreate(this, cluster));
    }
  }
}

/**
 * The kubectl provider is aws-cdk-lib's own nested stack (handler, provider framework); its roles and
 * runtime are fixed by the library. It exists only with `applyRbac`.
 */
function acknowledgeKubectlProvider(provider: Construct): void {
  const validations = Validations.of(provider);
  const basic = 'arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
  validations.acknowledge(
    {
      id: `AwsSolutions-IAM4[Policy::${basic}]`,
      reason:
        'aws-cdk-lib kubectl provider (applyRbac only): its handler and provider-framework roles use AWSLambdaBasicExecutionRole for their own logs; the library builds these roles.',
    },
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly]',
      reason:
        'aws-cdk-lib kubectl provider (applyRbac only): the library attaches ECR pull for Helm OCI charts; this stack applies plain manifests and pulls nothing.',
    },
    {
      id: 'AwsSolutions-IAM4[Policy::{"Fn::If":["HandlerHasEcrPublic195AF58A",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]',
      reason:
        'aws-cdk-lib kubectl provider (applyRbac only): ECR Public read-only, attached by the library only in regions with ECR Public, for Helm OCI charts; unused here.',
    },
    {
      id: 'AwsSolutions-L1',
      reason:
        'aws-cdk-lib kubectl provider (applyRbac only): the handler runtime (Python) is pinned by aws-cdk-lib to match the kubectl layer; it cannot be changed from here.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::<Handler886CB40B.Arn>:*]',
      reason:
        'aws-cdk-lib kubectl provider (applyRbac only): the provider framework may invoke the kubectl handler function and its versions ("<arn>:*" = qualified ARNs of that one function).',
    },
  );
}

function validate(scope: Construct, props: ClusterAccessProps, group: string): void {
  const problems: string[] = [];
  if (props.roles.length === 0) problems.push('roles must name at least one role');
  if (!Token.isUnresolved(group)) {
    const reserved = ['system:', 'eks:', 'aws:', 'amazon:', 'iam:'].find((prefix) =>
      group.startsWith(prefix),
    );
    if (reserved)
      problems.push(`kubernetesGroup "${group}" uses the prefix "${reserved}", which EKS reserves`);
    if (group.trim() === '') problems.push('kubernetesGroup must not be empty');
  }
  if (props.applyRbac) {
    if (!props.kubectlRoleArn)
      problems.push('applyRbac needs kubectlRoleArn (a cluster-admin role the provider assumes)');
    if (!props.rbacManifests && (!props.namespaces || props.namespaces.length === 0)) {
      problems.push('applyRbac needs namespaces');
    }
    if (props.kubectlVpc && (!props.kubectlSecurityGroup || !props.kubectlPrivateSubnetIds?.length)) {
      problems.push('kubectlVpc needs kubectlSecurityGroup and kubectlPrivateSubnetIds');
    }
  }
  if (problems.length > 0) {
    throw new Error(`ClusterAccess (${scope.node.path}): invalid configuration: ${problems.join('; ')}`);
  }
}
