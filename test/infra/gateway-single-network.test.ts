import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GatewayNetworkingStack } from '../../infra/stacks/gateway-networking-stack.ts';
import {
  annotationMessages,
  buildTestApp,
  getAtt,
  nagFindings,
  ref,
  type SynthesisedApp,
} from './helpers.ts';

// cdk.json defaults: single-network, cluster VPC vpc-0a1b2c3d4e5f60718, VM SG sg-0a1b2c3d4e5f60718,
// and a VM VPC (vpc-0f1e2d3c4b5a69788) routed to the cluster one.
const VM_SG = 'sg-0a1b2c3d4e5f60718';

let built: SynthesisedApp;
let stack: GatewayNetworkingStack;
let template: Template;

beforeAll(() => {
  built = buildTestApp({ deployRegistrar: 'false' });
  stack = built.gatewayStack!;
  template = Template.fromStack(stack);
});

describe('GatewayNetworkingStack (single-network)', () => {
  it('creates an internal, cross-zone NLB in the cluster subnets with its own security group', () => {
    expect(built.registrarStack).toBeUndefined();
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network',
      Scheme: 'internal',
      Subnets: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      SecurityGroups: [getAtt(stack.gateway.loadBalancerSecurityGroup, 'GroupId')],
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
      EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: Match.absent(),
    });
  });

  it('listens on 15021, 15012 and 15017 only, each forwarding to its own IP target group', () => {
    const listeners = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener'));
    expect(listeners.map((listener) => listener.Properties.Port).sort()).toEqual([15012, 15017, 15021]);
    for (const listener of listeners) {
      const port = listener.Properties.Port as 15012 | 15017 | 15021;
      expect(listener.Properties).toEqual({
        LoadBalancerArn: ref(stack.gateway.loadBalancer),
        Port: port,
        Protocol: 'TCP',
        DefaultActions: [{ Type: 'forward', TargetGroupArn: ref(stack.gateway.targetGroups.get(port)!) }],
        Tags: expect.any(Array),
      });
    }
  });

  it('checks gateway health over HTTP on 15021 /healthz/ready for every target group', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 3);
    for (const port of [15021, 15012, 15017]) {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        Port: port,
        Protocol: 'TCP',
        TargetType: 'ip',
        VpcId: 'vpc-0a1b2c3d4e5f60718',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPort: '15021',
        HealthCheckPath: '/healthz/ready',
        Targets: Match.absent(),
      });
    }
  });

  it('admits only the VM security group, only on the gateway ports', () => {
    const group = Object.values(template.findResources('AWS::EC2::SecurityGroup'));
    expect(group).toHaveLength(1);
    expect(group[0]!.Properties.SecurityGroupIngress).toBeUndefined();
    const rules = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map(
      (rule) => rule.Properties,
    );
    expect(rules.map((rule) => rule.FromPort).sort()).toEqual([15012, 15017, 15021]);
    for (const rule of rules) {
      expect(rule).toEqual({
        GroupId: getAtt(stack.gateway.loadBalancerSecurityGroup, 'GroupId'),
        SourceSecurityGroupId: VM_SG,
        IpProtocol: 'tcp',
        FromPort: rule.FromPort,
        ToPort: rule.FromPort,
        Description: expect.stringContaining('VM security group'),
      });
    }
  });

  it('lets the NLB out only to the gateway ports (listeners and the 15021 health check)', () => {
    const [group] = Object.values(template.findResources('AWS::EC2::SecurityGroup'));
    const egress = group!.Properties.SecurityGroupEgress as Array<Record<string, unknown>>;
    expect(egress.map((rule) => rule.FromPort).sort()).toEqual([15012, 15017, 15021]);
    for (const rule of egress) {
      expect(rule).toEqual({
        CidrIp: '0.0.0.0/0',
        IpProtocol: 'tcp',
        FromPort: rule.FromPort,
        ToPort: rule.FromPort,
        Description: expect.stringContaining('east-west gateway pods'),
      });
    }
  });

  it('has no PrivateLink pieces', () => {
    template.resourceCountIs('AWS::EC2::VPCEndpointService', 0);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });

  it('resolves istiod.istio-system.svc to the NLB in a private zone of the VM VPC', () => {
    template.hasResourceProperties('AWS::Route53::HostedZone', {
      Name: 'istio-system.svc.',
      VPCs: [{ VPCId: 'vpc-0f1e2d3c4b5a69788', VPCRegion: { Ref: 'AWS::Region' } }],
    });
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'istiod.istio-system.svc.',
      Type: 'A',
      HostedZoneId: ref(stack.gateway.hostedZone),
      AliasTarget: {
        DNSName: { 'Fn::Join': ['', ['dualstack.', getAtt(stack.gateway.loadBalancer, 'DNSName')]] },
        HostedZoneId: getAtt(stack.gateway.loadBalancer, 'CanonicalHostedZoneID'),
      },
    });
  });

  it('outputs the gateway address, zone, istiod host and each target group', () => {
    const outputs = template.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'Architecture',
        'GatewayAddress',
        'HostedZoneId',
        'HostedZoneName',
        'IstiodHost',
        'LoadBalancerArn',
        'LoadBalancerSecurityGroupId',
        'TargetGroupArn15012',
        'TargetGroupArn15017',
        'TargetGroupArn15021',
        'TargetGroupName15012',
        'TargetGroupName15017',
        'TargetGroupName15021',
      ].sort(),
    );
    expect(outputs.GatewayAddress!.Value).toEqual(getAtt(stack.gateway.loadBalancer, 'DNSName'));
    expect(outputs.IstiodHost!.Value).toBe('istiod.istio-system.svc');
    expect(outputs.Architecture!.Value).toBe('single-network');
    expect(outputs.TargetGroupName15012!.Value).toEqual(
      getAtt(stack.gateway.targetGroups.get(15012)!, 'TargetGroupName'),
    );
  });

  it('reports no unacknowledged AwsSolutions finding and no CDK warning', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(annotationMessages(stack)).toEqual([]);
  });
});
