import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { Registrar, type RegistrarProps } from '../../infra/constructs/registrar.ts';

/**
 * Registrar.addLifecycleHooks: the hooks' timeouts are checked at synth against the registrar's own
 * waits (a retry, a gate poll, the drain period, the gate timeout), and a probe gate opens the
 * probe's port from the functions to the VMs.
 */
const appWith = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const props: RegistrarProps = { allowedNamespaces: ['vm-workloads'], clusterName: 'mesh' };

function setUp(extra: Partial<RegistrarProps> = {}, withVpc = false) {
  const stack = new Stack(appWith(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = withVpc
    ? ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
        vpcId: 'vpc-00000000000000001',
        availabilityZones: ['eu-west-1a'],
        privateSubnetIds: ['subnet-0123456789abcdef0'],
      })
    : undefined;
  const registrar = new Registrar(stack, 'R', { ...props, ...extra, ...(vpc ? { vpc } : {}) });
  const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Asg', 'web-asg');
  return { stack, registrar, group };
}

describe('Registrar.addLifecycleHooks: timeouts checked against the waits', () => {
  it('accepts the defaults: 300 s heartbeat against a 15 s retry + 30 s invocation + 1 s window + 5 s', () => {
    const { registrar, group } = setUp();
    expect(registrar.addLifecycleHooks(group)).toHaveLength(2);
  });

  it('fails synth when the heartbeat timeout is shorter than one retry of a lifecycle record', () => {
    const { registrar, group } = setUp({ lifecycleRetryDelay: Duration.seconds(60) });
    expect(() => registrar.addLifecycleHooks(group, { heartbeatTimeout: Duration.seconds(90) })).toThrow(
      /^Registrar \(Test\/R\): addLifecycleHooks \(web-asg\): heartbeatTimeout 90s is shorter than one retry of a lifecycle record \(96s: lifecycleRetryDelay 60s \+ registrarTimeout 30s \+ maxBatchingWindow 1s \+ 5s\)/,
    );
    expect(() =>
      registrar.addLifecycleHooks(group, { heartbeatTimeout: Duration.seconds(96) }),
    ).not.toThrow();
  });

  it("fails synth when the drain period or gate timeout would outlast the action's global timeout", () => {
    const { registrar, group } = setUp();
    expect(() =>
      registrar.addLifecycleHooks(group, {
        heartbeatTimeout: Duration.seconds(60),
        drainPeriod: Duration.minutes(120),
        launchGate: { mode: 'istiod', timeout: Duration.hours(3) },
      }),
    ).toThrow(
      /drainPeriod 7200s exceeds 3600s; drainPeriod 7200s does not end within the terminate action's global timeout \(6000s\).*launchGate timeout 10800s does not end within the launch action's global timeout \(6000s\)/,
    );
  });

  it('fails synth for a heartbeat timeout Auto Scaling refuses, or one shorter than a gate poll', () => {
    const { registrar, group } = setUp({ lifecycleRetryDelay: Duration.seconds(1) });
    expect(() => registrar.addLifecycleHooks(group, { heartbeatTimeout: Duration.seconds(20) })).toThrow(
      /heartbeatTimeout 20s must be 30-7200s/,
    );
    expect(() =>
      registrar.addLifecycleHooks(group, {
        heartbeatTimeout: Duration.seconds(40),
        launchGate: { mode: 'istiod' },
      }),
    ).toThrow(/heartbeatTimeout 40s is shorter than one poll of the launch gate \(46s\)/);
  });

  it('a probe gate needs the functions in a VPC and the probe port; a gate needs completions', () => {
    const outside = setUp();
    expect(() =>
      outside.registrar.addLifecycleHooks(outside.group, { launchGate: { mode: 'probe' } }),
    ).toThrow(/a probe launch gate needs the functions in a VPC \(vpc\).*needs probePort/);
    const off = setUp({ completeLifecycleActions: false });
    expect(() => off.registrar.addLifecycleHooks(off.group, { launchGate: { mode: 'istiod' } })).toThrow(
      /launchGate needs completeLifecycleActions/,
    );
  });
});

describe('Registrar.addLifecycleHooks: a probe gate opens the probe port', () => {
  it("lets the functions' security group reach the VMs' on the probe port, and only that", () => {
    // Prepare
    const { stack, registrar, group } = setUp({}, true);
    const vms = ec2.SecurityGroup.fromSecurityGroupId(stack, 'Vms', 'sg-0a1b2c3d4e5f60718');

    // Act
    registrar.addLifecycleHooks(group, {
      launchGate: { mode: 'probe', probePort: 15021, instances: vms },
    });

    // Assess
    const template = Template.fromStack(stack);
    const functionsGroup = stack.resolve(registrar.functions.securityGroups[0]!.securityGroupId);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0a1b2c3d4e5f60718',
      IpProtocol: 'tcp',
      FromPort: 15021,
      ToPort: 15021,
      SourceSecurityGroupId: functionsGroup,
    });
    const egress = [
      ...Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).map((r) => r.Properties),
      ...Object.values(template.findResources('AWS::EC2::SecurityGroup')).flatMap(
        (r) => r.Properties.SecurityGroupEgress ?? [],
      ),
    ];
    expect(egress).toContainEqual(
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 15021,
        ToPort: 15021,
        DestinationSecurityGroupId: 'sg-0a1b2c3d4e5f60718',
      }),
    );
  });

  it('an imported group without instances cannot be opened: synth says what to pass', () => {
    const { registrar, group } = setUp({}, true);
    expect(() =>
      registrar.addLifecycleHooks(group, { launchGate: { mode: 'probe', probePort: 8080 } }),
    ).toThrow(/a probe launch gate on an imported group needs launchGate.instances/);
  });
});

describe('Registrar: lifecycle waits wired', () => {
  it("gives the registrar its own queue's URL and SendMessage on it, the reconciler neither", () => {
    const { stack, registrar } = setUp();
    const template = Template.fromStack(stack);
    const functions = template.findResources('AWS::Lambda::Function');
    const env = (fn: typeof registrar.functions.registrar) =>
      functions[stack.getLogicalId(fn.node.defaultChild as never)]!.Properties.Environment.Variables;
    expect(env(registrar.functions.registrar).LIFECYCLE_QUEUE_URL).toEqual({
      Ref: stack.getLogicalId(registrar.queue.node.defaultChild as never),
    });
    expect(env(registrar.functions.reconciler).LIFECYCLE_QUEUE_URL).toBeUndefined();
  });
});
