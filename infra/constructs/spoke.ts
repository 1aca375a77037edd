import { ArnFormat, type CfnCondition, Duration, Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_MEMBER_ROLE_NAME, DEFAULT_TAG_PREFIX, WORKLOAD_GROUP_TAG } from '#shared/constants.ts';
import { REGISTRAR_EVENT_TYPES } from '../event-types.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import { eventPatternFor } from './registrar.ts';

/**
 * The AWS calls the registrar makes in a spoke account through the member role: one list for the
 * role's policy, the docs and the tests. Describe actions support no resource-level permissions.
 */
export const MEMBER_READ_ACTIONS = [
  'ec2:DescribeInstances',
  'autoscaling:DescribeAutoScalingInstances',
  'autoscaling:DescribeAutoScalingGroups',
  'autoscaling:DescribeWarmPool',
  // The hooks' heartbeat timeouts size the registrar's lifecycle waits.
  'autoscaling:DescribeLifecycleHooks',
] as const;
/** Lifecycle actions the registrar answers, on groups tagged for the registrar only. */
export const MEMBER_LIFECYCLE_ACTIONS = [
  'autoscaling:CompleteLifecycleAction',
  'autoscaling:RecordLifecycleActionHeartbeat',
] as const;

export interface RegistrarSpokeProps {
  /**
   * ARN of the registrar's central event bus (the hub): the spoke's events are forwarded there. May
   * be a CloudFormation parameter. Its account is the registrar's account, trusted by the member role.
   */
  readonly hubEventBusArn: string;
  /**
   * ARNs of the registrar's function roles (the registrar stack's `RegistrarRoleArn` and
   * `ReconcilerRoleArn` outputs): the only principals the member role trusts. May be a
   * CommaDelimitedList parameter.
   */
  readonly registrarRoleArns: string[];
  /** `sts:ExternalId` the registrar presents (MEMBER_EXTERNAL_ID). May be a parameter. */
  readonly externalId: string;
  /**
   * Organization id (`o-...`): the member role also requires `aws:PrincipalOrgID`. A token that
   * resolves to an empty string (an unset parameter) turns the condition off through `hasOrganization`.
   * @default - no organization condition
   */
  readonly organizationId?: string;
  /**
   * With a token `organizationId`: the condition that it is set.
   * @default - the organization condition is present exactly when `organizationId` is given
   */
  readonly hasOrganization?: CfnCondition;
  /**
   * Create the member role. IAM roles are global: in an account where the spoke is deployed to
   * several regions, exactly one of them creates it.
   * @default - always (a CfnCondition makes it conditional)
   */
  readonly memberRoleCondition?: CfnCondition;
  /**
   * Fixed name of the member role (MEMBER_ROLE_NAME of the registrar).
   * @default 'istio-vm-registrar-member'
   */
  readonly memberRoleName?: string;
  /**
   * Prefix of the instance tags (TAG_PREFIX): lifecycle actions may be answered only on Auto Scaling
   * groups carrying `<prefix>workload-group`.
   * @default 'istio-vm/'
   */
  readonly tagPrefix?: string;
}

/**
 * What one spoke (an account and region whose VMs the registrar serves) needs, with no lookups so
 * one template deploys everywhere (CloudFormation StackSets):
 * - one EventBridge rule per event type the registrar handles (`infra/event-types.ts`, the list the
 *   registrar's own rules come from) on the default bus, forwarding to the hub bus through a role
 *   EventBridge assumes, with a dead-letter queue for deliveries the hub refuses;
 * - the member role (fixed name) the registrar assumes: trusted by the registrar's roles only, with
 *   `sts:ExternalId` (and `aws:PrincipalOrgID`), allowed to read instances and Auto Scaling states
 *   and to complete or heartbeat lifecycle actions of tagged groups.
 */
export class RegistrarSpoke extends Construct {
  public readonly rules: events.Rule[] = [];
  /** Role EventBridge assumes to put events on the hub bus. */
  public readonly forwardingRole: iam.Role;
  /** Events the hub bus refused (wrong bus policy, deleted bus): look here when a spoke is silent. */
  public readonly deadLetterQueue: sqs.Queue;
  public readonly memberRole: iam.Role;
  public readonly memberRoleName: string;

  constructor(scope: Construct, id: string, props: RegistrarSpokeProps) {
    super(scope, id);
    validate(this, props);
    const stack = Stack.of(this);
    this.memberRoleName = props.memberRoleName ?? DEFAULT_MEMBER_ROLE_NAME;
    const hubBus = events.EventBus.fromEventBusArn(this, 'HubBus', props.hubEventBusArn);

    this.forwardingRole = new iam.Role(this, 'ForwardingRole', {
      description: 'EventBridge: forwards EC2 and Auto Scaling events to the istio-vm-registrar hub bus',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: the DeadLetterConfig of the forwarding rules’ hub bus target, which cdk-nag only recognises for SQS redrive policies.',
    });
    for (const eventType of REGISTRAR_EVENT_TYPES) {
      this.rules.push(
        new events.Rule(this, `${eventType.id}Rule`, {
          description: `istio-vm-registrar spoke: ${eventType.source} "${eventType.detailType}" to the hub bus`,
          eventPattern: eventPatternFor(eventType),
          targets: [
            new targets.EventBus(hubBus, {
              role: this.forwardingRole,
              deadLetterQueue: this.deadLetterQueue,
            }),
          ],
        }),
      );
    }

    const hubAccount = Fn.select(4, Fn.split(':', props.hubEventBusArn));
    const orgCondition = props.organizationId
      ? props.hasOrganization
        ? Fn.conditionIf(
            props.hasOrganization.logicalId,
            { 'sts:ExternalId': props.externalId, 'aws:PrincipalOrgID': props.organizationId },
            { 'sts:ExternalId': props.externalId },
          )
        : { 'sts:ExternalId': props.externalId, 'aws:PrincipalOrgID': props.organizationId }
      : { 'sts:ExternalId': props.externalId };
    const groupTag = `autoscaling:ResourceTag/${props.tagPrefix ?? DEFAULT_TAG_PREFIX}${WORKLOAD_GROUP_TAG}`;
    const groupArns = stack.formatArn({
      service: 'autoscaling',
      region: '*',
      resource: 'autoScalingGroup',
      resourceName: '*:autoScalingGroupName/*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.memberRole = new iam.Role(this, 'MemberRole', {
      roleName: this.memberRoleName,
      description: 'istio-vm-registrar: reads instances and answers lifecycle actions in this account',
      maxSessionDuration: Duration.hours(1),
      // The registrar's account, narrowed to its function roles by ARN: a principal ARN in the trust
      // policy would break when those roles are replaced, aws:PrincipalArn does not.
      assumedBy: new iam.AccountPrincipal(hubAccount).withConditions({
        ArnEquals: { 'aws:PrincipalArn': props.registrarRoleArns },
        StringEquals: orgCondition,
      }),
      inlinePolicies: {
        Registrar: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'ReadInstances',
              actions: [...MEMBER_READ_ACTIONS],
              resources: ['*'],
            }),
            new iam.PolicyStatement({
              sid: 'AnswerLifecycleActions',
              actions: [...MEMBER_LIFECYCLE_ACTIONS],
              resources: [groupArns],
              conditions: { Null: { [groupTag]: 'false' } },
            }),
          ],
        }),
      },
    });
    if (props.memberRoleCondition) {
      (this.memberRole.node.defaultChild as iam.CfnRole).cfnOptions.condition = props.memberRoleCondition;
    }
    Validations.of(this.memberRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `Resource "*" is only on actions without resource-level permissions: ${MEMBER_READ_ACTIONS.join(', ')} (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html).`,
    });
    acknowledgeWildcardResource(
      this.memberRole,
      groupArns,
      `Lifecycle actions of this account's Auto Scaling groups in any region the spoke serves, only on groups tagged ${props.tagPrefix ?? DEFAULT_TAG_PREFIX}${WORKLOAD_GROUP_TAG} (condition autoscaling:ResourceTag): the first "*" is the UUID in every group ARN, the second the group name.`,
    );
  }
}

function validate(scope: Construct, props: RegistrarSpokeProps): void {
  const problems: string[] = [];
  const arn = props.hubEventBusArn;
  if (
    !Token.isUnresolved(arn) &&
    !/^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[\w.\-/]+$/.test(arn)
  ) {
    problems.push(`hubEventBusArn "${arn}" is not an event bus ARN`);
  }
  if (!Token.isUnresolved(props.externalId) && !/^[\w+=,.@:/-]{2,1224}$/.test(props.externalId)) {
    problems.push('externalId must be 2-1224 characters of [A-Za-z0-9+=,.@:/_-]');
  }
  const roles = props.registrarRoleArns;
  if (!Token.isUnresolved(roles)) {
    if (roles.length === 0) problems.push('registrarRoleArns names no role');
    for (const role of roles) {
      if (!Token.isUnresolved(role) && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(role)) {
        problems.push(`registrarRoleArns: "${role}" is not an IAM role ARN`);
      }
    }
  }
  if (
    props.organizationId &&
    !Token.isUnresolved(props.organizationId) &&
    !/^o-[a-z0-9]{10,32}$/.test(props.organizationId)
  ) {
    problems.push(`organizationId "${props.organizationId}" is not an organization id (o-...)`);
  }
  if (props.memberRoleName !== undefined && !/^[\w+=,.@-]{1,64}$/.test(props.memberRoleName)) {
    problems.push(`memberRoleName "${props.memberRoleName}" is not an IAM role name`);
  }
  if (problems.length > 0) {
    throw new Error(`RegistrarSpoke (${scope.node.path}): invalid configuration: ${problems.join('; ')}`);
  }
}
