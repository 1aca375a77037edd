import { App, Duration, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/build-app.ts';
import { ClusterAccess } from '../../infra/constructs/cluster-access.ts';
import { GatewayNetworking, type GatewayNetworkingProps } from '../../infra/constructs/gateway-networking.ts';
import { Registrar, type RegistrarProps } from '../../infra/constructs/registrar.ts';
import { ContextError, readSettings } from '../../infra/context.ts';
import { CDK_JSON_CONTEXT } from './helpers.ts';

const appWith = (context: Record<string, unknown>) =>
  new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
const settingsOf = (overrides: Record<string, unknown>) =>
  readSettings(appWith({ ...CDK_JSON_CONTEXT, ...overrides }).node);

describe('Function: readSettings() (cdk.json context and -c)', () => {
  it('reads the committed cdk.json defaults: single-network, env-agnostic, both stacks', () => {
    const settings = settingsOf({});
    expect(settings).toMatchObject({
      architecture: 'single-network',
      stackNamePrefix: 'IstioVm',
      deployRegistrar: true,
      deployGateway: true,
      clusterName: 'mesh',
      allowedNamespaces: ['vm-workloads'],
      vmSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
      clusterVpc: {
        vpcId: 'vpc-0a1b2c3d4e5f60718',
        availabilityZones: ['us-east-1a', 'us-east-1b'],
        privateSubnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      },
    });
    expect(settings.env).toBeUndefined();
  });

  it('accepts command-line strings for booleans, numbers and lists (comma-separated or JSON)', () => {
    const settings = settingsOf({
      architecture: 'multi-network',
      allowedNamespaces: 'a, b,c',
      autoScalingGroupNames: '["x","y"]',
      applyRbac: 'true',
      kubectlRoleArn: 'arn:aws:iam::123456789012:role/admin',
      maxConcurrency: '7',
      account: '123456789012',
      region: 'eu-central-1',
    });
    expect(settings).toMatchObject({
      architecture: 'multi-network',
      allowedNamespaces: ['a', 'b', 'c'],
      autoScalingGroupNames: ['x', 'y'],
      applyRbac: true,
      maxConcurrency: 7,
      env: { account: '123456789012', region: 'eu-central-1' },
    });
  });

  it('reports every problem at once', () => {
    const read = () =>
      settingsOf({
        architecture: 'flat',
        clusterName: '',
        account: '123',
        applyRbac: 'yes',
        vmSecurityGroupIds: 'web',
        clusterVpcPrivateSubnetIds: 'subnet-0a1b2c3d4e5f60001',
      });
    expect(read).toThrow(ContextError);
    expect(read).toThrow(/architecture: "flat" is not one of single-network, multi-network/);
    expect(read).toThrow(/clusterName: required/);
    expect(read).toThrow(/account and region: set both or neither/);
    expect(read).toThrow(/applyRbac: expected true or false/);
    expect(read).toThrow(/vmSecurityGroupIds: "web" is not a security group id/);
    expect(read).toThrow(/clusterVpcPrivateSubnetIds: needs one subnet per availability zone/);
  });

  it('requires the VM VPC for multi-network and a kubectl role for applyRbac', () => {
    expect(() => settingsOf({ architecture: 'multi-network', vmVpcId: '' })).toThrow(
      /vmVpcId: required for multi-network/,
    );
    expect(() => settingsOf({ applyRbac: true })).toThrow(/applyRbac: needs kubectlRoleArn/);
    expect(() => settingsOf({ createLifecycleHooks: true })).toThrow(
      /createLifecycleHooks: needs autoScalingGroupNames/,
    );
  });

  it('lets either stack be left out', () => {
    expect(buildApp(appWith({ ...CDK_JSON_CONTEXT, deployGateway: 'false' })).gatewayStack).toBeUndefined();
    const gatewayOnly = buildApp(appWith({ ...CDK_JSON_CONTEXT, deployRegistrar: 'false', clusterName: '' }));
    expect(gatewayOnly.registrarStack).toBeUndefined();
    expect(gatewayOnly.gatewayStack?.stackName).toBe('IstioVmGateway');
  });

  it('rejects a schedule that is not rate/cron/at and a retention CloudWatch does not offer', () => {
    expect(() => buildApp(appWith({ ...CDK_JSON_CONTEXT, reconcileSchedule: 'every 5 minutes' }))).toThrow(
      /reconcileSchedule: "every 5 minutes"/,
    );
    expect(() => buildApp(appWith({ ...CDK_JSON_CONTEXT, logRetentionDays: 31 }))).toThrow(
      /logRetentionDays: 31/,
    );
  });
});

describe('Constructs: bad configuration fails at synth, naming the construct', () => {
  const stack = () => new Stack(appWith({}), 'Test');
  const registrarProps: RegistrarProps = { allowedNamespaces: ['vm-workloads'], clusterName: 'mesh' };

  it('Registrar: batch size, concurrency, redrive and visibility limits', () => {
    expect(
      () =>
        new Registrar(stack(), 'R', {
          ...registrarProps,
          batchSize: 11,
          maxBatchingWindow: Duration.seconds(0),
        }),
    ).toThrow(/^Registrar \(Test\/R\): invalid configuration: batchSize 11 must be 1-10/);
    expect(() => new Registrar(stack(), 'R', { ...registrarProps, maxConcurrency: 1 })).toThrow(
      /Registrar \(Test\/R\).*maxConcurrency 1 must be 2-1000/,
    );
    expect(
      () => new Registrar(stack(), 'R', { ...registrarProps, queueVisibilityTimeout: Duration.seconds(60) }),
    ).toThrow(/queueVisibilityTimeout 60s must be at least 6 x the registrar timeout \(180s\)/);
    expect(() => new Registrar(stack(), 'R', { ...registrarProps, maxReceiveCount: 0 })).toThrow(
      /maxReceiveCount 0/,
    );
  });

  it('RegistrarFunctions: checks the environment with the functions own schema', () => {
    const build = () =>
      new Registrar(stack(), 'R', {
        ...registrarProps,
        allowedNamespaces: ['Bad_Namespace'],
        kubeConcurrency: 0,
        clusterEndpoint: 'not-a-url',
      });
    expect(build).toThrow(/^RegistrarFunctions \(Test\/R\/Functions\): invalid configuration: /);
    expect(build).toThrow(/ALLOWED_NAMESPACES/);
    expect(build).toThrow(/KUBE_CONCURRENCY/);
    expect(build).toThrow(/CLUSTER_ENDPOINT/);
    expect(() => new Registrar(stack(), 'R', { ...registrarProps, clusterName: 'bad name!' })).toThrow(
      /clusterName "bad name!" is not an EKS cluster name/,
    );
  });

  it('RegistrarFunctions: a timeout that leaves no room for one Kubernetes request after the reporting margin', () => {
    expect(
      () => new Registrar(stack(), 'R', { ...registrarProps, registrarTimeout: Duration.seconds(10) }),
    ).toThrow(
      /^RegistrarFunctions \(Test\/R\/Functions\): invalid configuration: registrarTimeout 10s leaves 7s after the 3s kept back to report, less than one Kubernetes request \(kubeRequestTimeout 10s\)/,
    );
    expect(
      () =>
        new Registrar(stack(), 'R', {
          ...registrarProps,
          reconcilerTimeout: Duration.seconds(12),
          kubeRequestTimeout: Duration.seconds(8),
        }),
    ).toThrow(
      /reconcilerTimeout 12s leaves 7s after the 5s kept back to report, less than one Kubernetes request \(kubeRequestTimeout 8s\)/,
    );
    expect(
      () =>
        new Registrar(stack(), 'R', {
          ...registrarProps,
          registrarTimeout: Duration.seconds(10),
          kubeRequestTimeout: Duration.seconds(5),
        }),
    ).not.toThrow();
  });

  it('RegistrarFunctions: the reconciler is reserved one execution unless told not to', () => {
    const reserved = (value?: number | false) => {
      const scope = stack();
      const r = new Registrar(scope, 'R', {
        ...registrarProps,
        ...(value !== undefined ? { reconcilerReservedConcurrency: value } : {}),
      });
      return (r.functions.reconciler.node.defaultChild as { reservedConcurrentExecutions?: number })
        .reservedConcurrentExecutions;
    };
    expect(reserved()).toBe(1);
    expect(reserved(3)).toBe(3);
    expect(reserved(false)).toBeUndefined();
    expect(() => reserved(0)).toThrow(
      /reconcilerReservedConcurrency must be an integer of at least 1, or false/,
    );
  });

  it('Registrar.addLifecycleHooks: refuses a group its rules would never hear from', () => {
    const scope = stack();
    const narrowed = new Registrar(scope, 'R', {
      ...registrarProps,
      autoScalingGroups: [autoscaling.AutoScalingGroup.fromAutoScalingGroupName(scope, 'A', 'a')],
    });
    const other = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(scope, 'B', 'b');
    expect(() => narrowed.addLifecycleHooks(other)).toThrow(
      /Registrar \(Test\/R\): addLifecycleHooks: group "b"/,
    );
  });

  const vpc = (scope: Stack, id: string, vpcId: string) =>
    ec2.Vpc.fromVpcAttributes(scope, id, {
      vpcId,
      availabilityZones: ['us-east-1a'],
      privateSubnetIds: ['subnet-0123456789abcdef0'],
    });
  const gatewayProps = (scope: Stack): GatewayNetworkingProps => ({
    architecture: 'multi-network',
    clusterVpc: vpc(scope, 'Cluster', 'vpc-00000000000000001'),
    vmVpc: vpc(scope, 'Vm', 'vpc-00000000000000002'),
    vmSecurityGroups: [ec2.SecurityGroup.fromSecurityGroupId(scope, 'Sg', 'sg-0123456789abcdef0')],
  });

  it('GatewayNetworking: VM VPC, VM security groups, names and single-network-only options', () => {
    let scope = stack();
    expect(() => new GatewayNetworking(scope, 'G', { ...gatewayProps(scope), vmVpc: undefined })).toThrow(
      /^GatewayNetworking \(Test\/G\): invalid configuration: multi-network needs vmVpc/,
    );
    scope = stack();
    const props = gatewayProps(scope);
    expect(() => new GatewayNetworking(scope, 'G', { ...props, vmVpc: props.clusterVpc })).toThrow(
      /needs a vmVpc other than the cluster VPC/,
    );
    scope = stack();
    expect(
      () =>
        new GatewayNetworking(scope, 'G', {
          ...gatewayProps(scope),
          architecture: 'single-network',
          acceptanceRequired: true,
          vmSecurityGroups: [],
          hostedZoneName: 'Istio_System',
        }),
    ).toThrow(
      /acceptanceRequired applies to multi-network only.*vmSecurityGroups must name at least one.*hostedZoneName/,
    );
  });

  it('ClusterAccess: reserved groups and applyRbac without an admin role', () => {
    const scope = stack();
    const role = new iam.Role(scope, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    expect(
      () =>
        new ClusterAccess(scope, 'C', {
          clusterName: 'mesh',
          roles: [role],
          kubernetesGroup: 'system:masters',
        }),
    ).toThrow(
      /^ClusterAccess \(Test\/C\): invalid configuration: kubernetesGroup "system:masters" uses the prefix "system:"/,
    );
    expect(
      () => new ClusterAccess(stack(), 'C', { clusterName: 'mesh', roles: [], applyRbac: true }),
    ).toThrow(
      /roles must name at least one role.*applyRbac needs kubectlRoleArn.*applyRbac needs namespaces/,
    );
  });
});
