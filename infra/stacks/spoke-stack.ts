import {
  BootstraplessSynthesizer,
  CfnCondition,
  CfnOutput,
  CfnParameter,
  Fn,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { RegistrarSpoke } from '../constructs/spoke.ts';

export interface RegistrarSpokeStackProps extends Omit<StackProps, 'env' | 'synthesizer'> {
  /**
   * Default of the `HubEventBusArn` parameter (the registrar stack's `HubEventBusArn` output).
   * @default - none: the parameter must be given at deployment
   */
  readonly hubEventBusArn?: string;
  /**
   * Default of the `RegistrarRoleArns` parameter (the registrar stack's `RegistrarRoleArn` and
   * `ReconcilerRoleArn` outputs).
   * @default - none: the parameter must be given at deployment
   */
  readonly registrarRoleArns?: readonly string[];
  /**
   * Default of the `ExternalId` parameter (MEMBER_EXTERNAL_ID of the registrar).
   * @default - none: the parameter must be given at deployment
   */
  readonly externalId?: string;
  /**
   * Default of the `OrganizationId` parameter.
   * @default - '' (no organization condition)
   */
  readonly organizationId?: string;
  /** @default 'istio-vm-registrar-member' */
  readonly memberRoleName?: string;
  /** @default 'istio-vm/' */
  readonly tagPrefix?: string;
}

/**
 * The spoke template: deployed once per account and region whose VMs the registrar serves, usually
 * with CloudFormation StackSets. Environment-agnostic, no lookups, no assets and no bootstrap
 * dependency (BootstraplessSynthesizer): everything account-specific is a parameter.
 *
 * Parameters: `HubEventBusArn`, `RegistrarRoleArns`, `ExternalId`, `OrganizationId` (optional),
 * `CreateMemberRole` (`false` in all but one region of an account: IAM roles are global).
 */
export class RegistrarSpokeStack extends Stack {
  public readonly spoke: RegistrarSpoke;

  constructor(scope: Construct, id: string, props: RegistrarSpokeStackProps = {}) {
    super(scope, id, {
      description:
        'istio-vm-registrar spoke: forwards EC2/Auto Scaling events to the registrar hub and lets the registrar read instances here',
      synthesizer: new BootstraplessSynthesizer(),
      analyticsReporting: false,
      ...props,
    });
    const hubEventBusArn = new CfnParameter(this, 'HubEventBusArn', {
      type: 'String',
      description: 'ARN of the registrar hub event bus (registrar stack output HubEventBusArn)',
      allowedPattern: '^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+$',
      constraintDescription: 'an EventBridge event bus ARN',
      ...(props.hubEventBusArn ? { default: props.hubEventBusArn } : {}),
    });
    const registrarRoleArns = new CfnParameter(this, 'RegistrarRoleArns', {
      type: 'CommaDelimitedList',
      description:
        'ARNs of the registrar and reconciler roles (registrar stack outputs RegistrarRoleArn, ReconcilerRoleArn), comma-separated',
      ...(props.registrarRoleArns ? { default: props.registrarRoleArns.join(',') } : {}),
    });
    const externalId = new CfnParameter(this, 'ExternalId', {
      type: 'String',
      description: 'sts:ExternalId the registrar presents (its MEMBER_EXTERNAL_ID)',
      minLength: 2,
      maxLength: 1224,
      allowedPattern: '^[A-Za-z0-9+=,.@:/_-]+$',
      ...(props.externalId ? { default: props.externalId } : {}),
    });
    const organizationId = new CfnParameter(this, 'OrganizationId', {
      type: 'String',
      description:
        'AWS Organizations id (o-...): the registrar roles must also belong to it. Empty: no condition',
      allowedPattern: '^(o-[a-z0-9]{10,32})?$',
      default: props.organizationId ?? '',
    });
    const createMemberRole = new CfnParameter(this, 'CreateMemberRole', {
      type: 'String',
      description: 'Create the member role (IAM is global: "false" in every region of an account but one)',
      allowedValues: ['true', 'false'],
      default: 'true',
    });
    const hasOrganization = new CfnCondition(this, 'HasOrganization', {
      expression: Fn.conditionNot(Fn.conditionEquals(organizationId.valueAsString, '')),
    });
    const memberRoleCondition = new CfnCondition(this, 'CreateMemberRoleCondition', {
      expression: Fn.conditionEquals(createMemberRole.valueAsString, 'true'),
    });

    this.spoke = new RegistrarSpoke(this, 'Spoke', {
      hubEventBusArn: hubEventBusArn.valueAsString,
      registrarRoleArns: registrarRoleArns.valueAsList,
      externalId: externalId.valueAsString,
      organizationId: organizationId.valueAsString,
      hasOrganization,
      memberRoleCondition,
      ...(props.memberRoleName ? { memberRoleName: props.memberRoleName } : {}),
      ...(props.tagPrefix ? { tagPrefix: props.tagPrefix } : {}),
    });
    const memberRoleArn = new CfnOutput(this, 'MemberRoleArn', {
      value: this.spoke.memberRole.roleArn,
      description: 'Role the registrar assumes in this account',
    });
    memberRoleArn.condition = memberRoleCondition;
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: this.spoke.deadLetterQueue.queueUrl,
      description: 'Events the hub bus refused (check its policy and the HubEventBusArn parameter)',
    });
  }
}
