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

const VM_SG = 'sg-0a1b2c3d4e5f60718';
const CONSUMER = 'arn:aws:iam::210987654321:root';

let built: SynthesisedApp;
let stack: GatewayNetworkingStack;
let template: Template;

beforeAll(() => {
  built = buildTestApp({
    architecture: 'multi-network',
    deployRegistrar: 'false',
    endpointAcceptanceRequired: 'true',
    endpointAllowedPrincipals: CONSUMER,
  });
  stack = built.gatewayStack!;
  template = Template.fromStack(stack);
});

describe('GatewayNetworkingStack (multi-network)', () => {
  it('puts an internal NLB in the cluster VPC whose own group admits nothing and skips PrivateLink traffic', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internal',
      Subnets: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      SecurityGroups: [getAtt(stack.gateway.loadBalancerSecurityGroup, 'GroupId')],
      EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: 'off',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
    });
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    const nlbGroup = groups[stack.resolve(ref(stack.gateway.loadBalancerSecurityGroup)).Ref]!;
    expect(nlbGroup.Properties.VpcId).toBe('vpc-0a1b2c3d4e5f60718');
    expect(nlbGroup.Properties.SecurityGroupIngress).toBeUndefined();
    // Out only to the gateway pods' ports, 15443 included.
    const egress = nlbGroup.Properties.SecurityGroupEgress as Array<{ FromPort: number; ToPort: number }>;
    expect(egress.map((rule) => [rule.FromPort, rule.ToPort]).sort()).toEqual([
      [15012, 15012],
      [15017, 15017],
      [15021, 15021],
      [15443, 15443],
    ]);
  });

  it('listens on 15021, 15012, 15017 and 15443, each to an IP target group health-checked on 15021', () => {
    const listeners = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener'));
    expect(listeners.map((listener) => listener.Properties.Port).sort()).toEqual([
      15012, 15017, 15021, 15443,
    ]);
    for (const listener of listeners) {
      const port = listener.Properties.Port as 15012 | 15017 | 15021 | 15443;
      expect(listener.Properties.DefaultActions).toEqual([
        { Type: 'forward', TargetGroupArn: ref(stack.gateway.targetGroups.get(port)!) },
      ]);
      expect(listener.Properties.Protocol).toBe('TCP');
    }
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 4);
    template.allResourcesProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: '15021',
      HealthCheckPath: '/healthz/ready',
    });
  });

  it('exposes the NLB as a PrivateLink service with acceptance and the allowed principals', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpointService', {
      NetworkLoadBalancerArns: [ref(stack.gateway.loadBalancer)],
      AcceptanceRequired: true,
    });
    template.hasResourceProperties('AWS::EC2::VPCEndpointServicePermissions', {
      ServiceId: { Ref: template.getResourceId('AWS::EC2::VPCEndpointService') },
      AllowedPrincipals: [CONSUMER],
    });
  });

  it('connects an interface endpoint in the VM VPC, guarded by a group that admits only the VM SG on the 4 ports', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      VpcId: 'vpc-0f1e2d3c4b5a69788',
      SubnetIds: ['subnet-0f1e2d3c4b5a60001', 'subnet-0f1e2d3c4b5a60002'],
      SecurityGroupIds: [getAtt(stack.gateway.endpointSecurityGroup!, 'GroupId')],
      PrivateDnsEnabled: false,
      ServiceName: {
        'Fn::Join': [
          '.',
          [
            'com.amazonaws.vpce',
            { Ref: 'AWS::Region' },
            { Ref: template.getResourceId('AWS::EC2::VPCEndpointService') },
          ],
        ],
      },
    });
    const endpoint = Object.values(template.findResources('AWS::EC2::VPCEndpoint'))[0]!;
    expect(endpoint.DependsOn).toEqual(
      expect.arrayContaining([
        template.getResourceId('AWS::EC2::VPCEndpointService'),
        template.getResourceId('AWS::EC2::VPCEndpointServicePermissions'),
      ]),
    );

    const endpointGroup =
      template.findResources('AWS::EC2::SecurityGroup')[
        stack.resolve(ref(stack.gateway.endpointSecurityGroup!)).Ref
      ]!;
    expect(endpointGroup.Properties.VpcId).toBe('vpc-0f1e2d3c4b5a69788');
    const rules = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map(
      (rule) => rule.Properties,
    );
    expect(rules.map((rule) => rule.FromPort).sort()).toEqual([15012, 15017, 15021, 15443]);
    for (const rule of rules) {
      expect(rule).toMatchObject({
        GroupId: getAtt(stack.gateway.endpointSecurityGroup!, 'GroupId'),
        SourceSecurityGroupId: VM_SG,
        IpProtocol: 'tcp',
        ToPort: rule.FromPort,
      });
    }
  });

  it('resolves istiod.istio-system.svc to the endpoint in a private zone of the VM VPC', () => {
    template.hasResourceProperties('AWS::Route53::HostedZone', {
      Name: 'istio-system.svc.',
      VPCs: [{ VPCId: 'vpc-0f1e2d3c4b5a69788', VPCRegion: { Ref: 'AWS::Region' } }],
    });
    const firstDnsEntry = { 'Fn::Select': [0, getAtt(stack.gateway.endpoint!, 'DnsEntries')] };
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'istiod.istio-system.svc.',
      Type: 'A',
      AliasTarget: {
        DNSName: { 'Fn::Select': [1, { 'Fn::Split': [':', firstDnsEntry] }] },
        HostedZoneId: { 'Fn::Select': [0, { 'Fn::Split': [':', firstDnsEntry] }] },
      },
    });
  });

  it('outputs the endpoint as the gateway address, plus the PrivateLink ids and all 4 target groups', () => {
    const outputs = template.findOutputs('*');
    for (const port of [15021, 15012, 15017, 15443]) {
      expect(outputs[`TargetGroupArn${port}`]!.Value).toEqual(
        ref(stack.gateway.targetGroups.get(port as 15012)!),
      );
      expect(outputs[`TargetGroupName${port}`]).toBeDefined();
    }
    expect(outputs.GatewayAddress!.Value).toEqual({
      'Fn::Select': [
        1,
        { 'Fn::Split': [':', { 'Fn::Select': [0, getAtt(stack.gateway.endpoint!, 'DnsEntries')] }] },
      ],
    });
    expect(outputs.EndpointServiceName).toBeDefined();
    expect(outputs.EndpointId!.Value).toEqual(ref(stack.gateway.endpoint!));
    expect(outputs.Architecture!.Value).toBe('multi-network');
  });

  it('reports no unacknowledged AwsSolutions finding and no CDK warning', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(annotationMessages(stack)).toEqual([]);
  });
});
