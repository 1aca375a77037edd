import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { MEMBER_LIFECYCLE_ACTIONS, MEMBER_READ_ACTIONS } from '../../infra/constructs/spoke.ts';
import { ContextError, readSettings } from '../../infra/context.ts';
import { REGISTRAR_EVENT_TYPES } from '../../infra/event-types.ts';
import type { RegistrarStack } from '../../infra/stacks/registrar-stack.ts';
import type { RegistrarSpokeStack } from '../../infra/stacks/spoke-stack.ts';
import { type EventPattern, matchesEventPattern } from './event-pattern.ts';
import {
  annotationMessages,
  buildTestApp,
  CDK_JSON_CONTEXT,
  eventFixtures,
  getAtt,
  logicalId,
  nagFindings,
  roleStatements,
} from './helpers.ts';

type Resource = { Type: string; Properties: Record<string, unknown>; Condition?: string };
const resourcesOf = (template: Template, type: string) =>
  Object.entries(template.findResources(type)) as Array<[string, Resource]>;

describe('RegistrarSpokeStack (the StackSets template)', () => {
  let stack: RegistrarSpokeStack;
  let template: Template;
  let built: ReturnType<typeof buildTestApp>;
  beforeAll(() => {
    built = buildTestApp({ deployRegistrar: 'false', deployGateway: 'false' });
    stack = built.spokeStack!;
    template = Template.fromStack(stack);
  });

  it('takes everything account-specific as parameters, with no bootstrap, lookups or assets', () => {
    const json = template.toJSON() as { Parameters: Record<string, unknown>; Rules?: unknown };
    expect(Object.keys(json.Parameters).sort()).toEqual([
      'CreateMemberRole',
      'ExternalId',
      'HubEventBusArn',
      'OrganizationId',
      'RegistrarRoleArns',
    ]);
    expect(json.Rules).toBeUndefined();
    expect(template.findResources('AWS::CDK::Metadata')).toEqual({});
    expect(stack.account).toMatch(/^\$\{Token/);
    expect(stack.region).toMatch(/^\$\{Token/);
    expect(stack.node.metadata.filter((m) => m.type === ('aws:cdk:missing-context' as never))).toEqual([]);
  });

  it('forwards exactly the event types the registrar handles to the hub bus, through a role, with a dead-letter queue', () => {
    const rules = resourcesOf(template, 'AWS::Events::Rule');
    expect(rules).toHaveLength(REGISTRAR_EVENT_TYPES.length);
    const patterns = rules.map(([, r]) => r.Properties.EventPattern as EventPattern);
    for (const type of REGISTRAR_EVENT_TYPES) {
      expect(patterns).toContainEqual({
        source: [type.source],
        'detail-type': [type.detailType],
        ...(type.detail
          ? { detail: Object.fromEntries(Object.entries(type.detail).map(([k, v]) => [k, [...v]])) }
          : {}),
      });
    }
    const role = stack.spoke.forwardingRole;
    for (const [, rule] of rules) {
      expect(rule.Properties.EventBusName).toBeUndefined(); // the default bus
      expect(rule.Properties.Targets).toEqual([
        {
          Arn: { Ref: 'HubEventBusArn' },
          Id: 'Target0',
          RoleArn: getAtt(role),
          DeadLetterConfig: { Arn: getAtt(stack.spoke.deadLetterQueue) },
        },
      ]);
    }
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
    });
    expect(roleStatements(template, logicalId(role))).toEqual([
      { Action: 'events:PutEvents', Effect: 'Allow', Resource: { Ref: 'HubEventBusArn' } },
    ]);
  });

  it('delivers every verbatim EC2/Auto Scaling sample through exactly one forwarding rule', () => {
    const patterns = resourcesOf(template, 'AWS::Events::Rule').map(
      ([, r]) => r.Properties.EventPattern as EventPattern,
    );
    const handled = eventFixtures().filter(({ event }) =>
      REGISTRAR_EVENT_TYPES.some((t) => t.detailType === event['detail-type'] && t.source === event.source),
    );
    expect(handled.length).toBeGreaterThan(5);
    for (const { file, event } of handled) {
      expect(
        patterns.filter((p) => matchesEventPattern(p, event)),
        file,
      ).toHaveLength(1);
    }
  });

  it('creates the member role with its fixed name, trusted by the registrar roles only, with the ExternalId (and the Organization)', () => {
    const [[, role]] = resourcesOf(template, 'AWS::IAM::Role').filter(
      ([, r]) => r.Properties.RoleName === 'istio-vm-registrar-member',
    ) as [[string, Resource]];
    expect(role.Condition).toBe('CreateMemberRoleCondition');
    expect(role.Properties.MaxSessionDuration).toBe(3600);
    const trust = (role.Properties.AssumeRolePolicyDocument as { Statement: unknown[] }).Statement;
    expect(trust).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: {
          AWS: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':iam::',
                { 'Fn::Select': [4, { 'Fn::Split': [':', { Ref: 'HubEventBusArn' }] }] },
                ':root',
              ],
            ],
          },
        },
        Condition: {
          ArnEquals: { 'aws:PrincipalArn': { Ref: 'RegistrarRoleArns' } },
          StringEquals: {
            'Fn::If': [
              'HasOrganization',
              { 'sts:ExternalId': { Ref: 'ExternalId' }, 'aws:PrincipalOrgID': { Ref: 'OrganizationId' } },
              { 'sts:ExternalId': { Ref: 'ExternalId' } },
            ],
          },
        },
      },
    ]);
    expect(template.toJSON().Conditions).toEqual({
      HasOrganization: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'OrganizationId' }, ''] }] },
      CreateMemberRoleCondition: { 'Fn::Equals': [{ Ref: 'CreateMemberRole' }, 'true'] },
    });
  });

  it('gives the member role only the calls the registrar makes, lifecycle actions on tagged groups only', () => {
    const [[, role]] = resourcesOf(template, 'AWS::IAM::Role').filter(
      ([, r]) => r.Properties.RoleName === 'istio-vm-registrar-member',
    ) as [[string, Resource]];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toEqual([
      {
        PolicyName: 'Registrar',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Sid: 'ReadInstances', Effect: 'Allow', Action: [...MEMBER_READ_ACTIONS].sort(), Resource: '*' },
            {
              Sid: 'AnswerLifecycleActions',
              Effect: 'Allow',
              Action: [...MEMBER_LIFECYCLE_ACTIONS].sort(),
              Resource: {
                'Fn::Join': [
                  '',
                  [
                    'arn:',
                    { Ref: 'AWS::Partition' },
                    ':autoscaling:*:',
                    { Ref: 'AWS::AccountId' },
                    ':autoScalingGroup:*:autoScalingGroupName/*',
                  ],
                ],
              },
              Condition: { Null: { 'autoscaling:ResourceTag/istio-vm/workload-group': 'false' } },
            },
          ],
        },
      },
    ]);
    // Nothing else in the stack may act in the account.
    expect(resourcesOf(template, 'AWS::IAM::Policy')).toHaveLength(1);
  });

  it('is cdk-nag clean with no unacknowledged warnings', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(annotationMessages(stack)).toEqual([]);
  });

  it('takes its parameter defaults, the role name and the tag prefix from the context', () => {
    const built = buildTestApp({
      deployRegistrar: 'false',
      deployGateway: 'false',
      spokeHubEventBusArn: 'arn:aws:events:us-west-2:111111111111:event-bus/hub',
      spokeRegistrarRoleArns: 'arn:aws:iam::111111111111:role/a,arn:aws:iam::111111111111:role/b',
      memberExternalId: 'mesh-7f3a',
      organizationId: 'o-a1b2c3d4e5',
      memberRoleName: 'vm-member',
      tagPrefix: 'mesh/',
    });
    const t = Template.fromStack(built.spokeStack!);
    const params = (t.toJSON() as { Parameters: Record<string, { Default?: string }> }).Parameters;
    expect(params.HubEventBusArn?.Default).toBe('arn:aws:events:us-west-2:111111111111:event-bus/hub');
    expect(params.RegistrarRoleArns?.Default).toBe(
      'arn:aws:iam::111111111111:role/a,arn:aws:iam::111111111111:role/b',
    );
    expect(params.ExternalId?.Default).toBe('mesh-7f3a');
    expect(params.OrganizationId?.Default).toBe('o-a1b2c3d4e5');
    t.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'vm-member',
      Policies: [
        {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Condition: { Null: { 'autoscaling:ResourceTag/mesh/workload-group': 'false' } },
              }),
            ]),
          },
        },
      ],
    });
  });
});

describe('RegistrarStack with spokes (the hub)', () => {
  const SPOKES = '222222222222:eu-west-1,222222222222:us-east-1,333333333333:eu-west-1';
  let stack: RegistrarStack;
  let template: Template;
  beforeAll(() => {
    const built = buildTestApp({
      account: '111111111111',
      region: 'us-west-2',
      deployGateway: 'false',
      deploySpoke: 'false',
      spokeAccountRegions: SPOKES,
      memberExternalId: 'mesh-7f3a',
      organizationId: 'o-a1b2c3d4e5',
      networkMap: '222222222222=spoke-net,333333333333:vpc-0a1b2c3d=other-net',
    });
    stack = built.registrarStack!;
    template = Template.fromStack(stack);
  });

  it('admits the spoke accounts, inside the Organization, to a central bus', () => {
    const hub = stack.hub!;
    template.hasResourceProperties('AWS::Events::EventBusPolicy', {
      EventBusName: { Ref: logicalId(hub.eventBus) },
      Statement: {
        Sid: 'cdk-SpokesPutEvents',
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: {
          AWS: ['arn:aws:iam::222222222222:root', 'arn:aws:iam::333333333333:root'],
        },
        Resource: getAtt(hub.eventBus),
        Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } },
      },
    });
  });

  it('routes every handled event type from the spokes, and only from them, to the registrar queue', () => {
    const hub = stack.hub!;
    const busRules = resourcesOf(template, 'AWS::Events::Rule').filter(
      ([, r]) =>
        JSON.stringify(r.Properties.EventBusName) === JSON.stringify({ Ref: logicalId(hub.eventBus) }),
    );
    expect(busRules).toHaveLength(REGISTRAR_EVENT_TYPES.length);
    for (const [id, rule] of busRules) {
      const pattern = rule.Properties.EventPattern as Record<string, unknown>;
      expect(pattern.account, id).toEqual(['222222222222', '333333333333']);
      expect(pattern.region, id).toEqual(['eu-west-1', 'us-east-1']);
      expect(rule.Properties.Targets).toEqual([
        expect.objectContaining({
          Arn: getAtt(stack.registrar.queue),
          DeadLetterConfig: { Arn: getAtt(stack.registrar.deadLetterQueue) },
        }),
      ]);
    }
    expect(stack.registrar.rules).toEqual(expect.arrayContaining(hub.rules));
    // The queue policy admits the hub's rules like the registrar's own (by rule ARN).
    const [[, queuePolicy]] = resourcesOf(template, 'AWS::SQS::QueuePolicy').filter(([, p]) =>
      JSON.stringify(p.Properties.Queues).includes(logicalId(stack.registrar.queue)),
    ) as [[string, Resource]];
    const deny = (
      queuePolicy.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }
    ).Statement.find((st) => st.Effect === 'Deny' && st.Action === 'sqs:SendMessage');
    expect(deny).toBeDefined();
    const admitted = (deny!.Condition as { ArnNotEquals: { 'aws:SourceArn': unknown[] } }).ArnNotEquals[
      'aws:SourceArn'
    ];
    for (const rule of hub.rules) expect(admitted).toContainEqual(getAtt(rule));
    // A spoke's own forwarded sample reaches the queue through exactly one hub rule.
    const patterns = busRules.map(([, r]) => r.Properties.EventPattern as EventPattern);
    for (const { file, event } of eventFixtures()) {
      if (!REGISTRAR_EVENT_TYPES.some((t) => t.detailType === event['detail-type'])) continue;
      const forwarded = { ...event, account: '333333333333', region: 'eu-west-1' };
      expect(
        patterns.filter((p) => matchesEventPattern(p, forwarded)),
        file,
      ).toHaveLength(1);
      const stranger = { ...event, account: '444444444444', region: 'eu-west-1' };
      expect(
        patterns.filter((p) => matchesEventPattern(p, stranger)),
        file,
      ).toHaveLength(0);
    }
  });

  it('lets both function roles assume the member role in the spoke accounts, and nowhere else', () => {
    for (const fn of [stack.registrar.functions.registrar, stack.registrar.functions.reconciler]) {
      const assume = roleStatements(template, logicalId(fn.role!)).filter((s) =>
        JSON.stringify(s.Action).includes('sts:AssumeRole'),
      );
      expect(assume).toEqual([
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Resource: [
            'arn:aws:iam::222222222222:role/istio-vm-registrar-member',
            'arn:aws:iam::333333333333:role/istio-vm-registrar-member',
          ],
        },
      ]);
    }
  });

  it('configures the functions for the fleet (the same variables the code reads)', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          HOME_ACCOUNT_ID: '111111111111',
          SPOKE_ACCOUNT_REGIONS: SPOKES,
          MEMBER_ROLE_NAME: 'istio-vm-registrar-member',
          MEMBER_EXTERNAL_ID: 'mesh-7f3a',
          NETWORK_MAP: '222222222222=spoke-net,333333333333:vpc-0a1b2c3d=other-net',
        }),
      },
    });
    template.hasOutput('HubEventBusArn', { Value: getAtt(stack.hub!.eventBus) });
    template.hasOutput('MemberRoleName', { Value: 'istio-vm-registrar-member' });
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});

describe('Context: other accounts and regions', () => {
  const settingsOf = (overrides: Record<string, unknown>) =>
    readSettings(new App({ context: { ...CDK_JSON_CONTEXT, ...overrides } }).node);

  it('reports bad pairs, a missing ExternalId, a bad Organization and a bad network map at once', () => {
    const read = () =>
      settingsOf({
        region: 'us-east-1',
        account: '111111111111',
        spokeAccountRegions: '2222:eu-west-1,222222222222:cn-north-1,222222222222:eu-west-1',
        organizationId: 'org-1',
        networkMap: '222222222222=bad net',
      });
    expect(read).toThrow(ContextError);
    expect(read).toThrow(/spokeAccountRegions: "2222:eu-west-1" is not/);
    expect(read).toThrow(/spokeAccountRegions: "222222222222:cn-north-1" is in partition aws-cn/);
    expect(read).toThrow(/memberExternalId: required with spokeAccountRegions/);
    expect(read).toThrow(/organizationId: "org-1" is not an organization id/);
    expect(read).toThrow(/networkMap: "222222222222=bad net" is not/);
  });

  it('synthesises the spoke template by default (deploySpoke)', () => {
    expect(settingsOf({}).deploySpoke).toBe(true);
    expect(settingsOf({ deploySpoke: 'false' }).deploySpoke).toBe(false);
  });
});
