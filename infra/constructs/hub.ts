import { Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { REGISTRAR_EVENT_TYPES } from '../event-types.ts';
import { eventPatternFor, type Registrar } from './registrar.ts';

/** One account and region whose VMs the registrar serves through a spoke stack. */
export interface SpokeLocation {
  /** 12-digit account id. */
  readonly account: string;
  /** Region, e.g. `eu-west-1`. */
  readonly region: string;
}

export interface RegistrarHubProps {
  /** The registrar whose queue the hub's rules deliver to. */
  readonly registrar: Registrar;
  /**
   * The account/region pairs with a spoke stack (at least one).
   * @default - the registrar's `spokes`
   */
  readonly spokes?: readonly SpokeLocation[];
  /**
   * Organization id (`o-...`): the bus admits the spoke accounts only as members of it
   * (`aws:PrincipalOrgID`, in addition to the account list).
   * @default - the account list alone
   */
  readonly organizationId?: string;
  /**
   * Name of the central bus.
   * @default - generated
   */
  readonly eventBusName?: string;
}

/**
 * The hub of a multi-account fleet: a central event bus that admits the spoke accounts
 * (`events:PutEvents` for the listed accounts, and only inside the Organization when one is given),
 * and one rule per event type on it (`infra/event-types.ts`, the same list as the registrar's own
 * rules and the spokes' forwarding rules) into the registrar's queue, narrowed to the spokes'
 * accounts and regions. The rules go through {@link Registrar.addEventRule}, so the queue admits
 * them like its own.
 */
export class RegistrarHub extends Construct {
  public readonly eventBus: events.EventBus;
  public readonly rules: events.Rule[] = [];
  public readonly spokes: readonly SpokeLocation[];

  constructor(scope: Construct, id: string, props: RegistrarHubProps) {
    super(scope, id);
    this.spokes = props.spokes ?? props.registrar.functions.spokes;
    validate(this, { ...props, spokes: this.spokes });
    this.eventBus = new events.EventBus(this, 'Bus', {
      ...(props.eventBusName ? { eventBusName: props.eventBusName } : {}),
      description: 'istio-vm-registrar hub: EC2 and Auto Scaling events forwarded by the spoke stacks',
    });
    const accounts = unique(this.spokes.map((spoke) => spoke.account));
    const regions = unique(this.spokes.map((spoke) => spoke.region));
    this.eventBus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SpokesPutEvents',
        principals: accounts.map((account) => new iam.AccountPrincipal(account)),
        actions: ['events:PutEvents'],
        resources: [this.eventBus.eventBusArn],
        ...(props.organizationId
          ? { conditions: { StringEquals: { 'aws:PrincipalOrgID': props.organizationId } } }
          : {}),
      }),
    );
    for (const eventType of REGISTRAR_EVENT_TYPES) {
      this.rules.push(
        props.registrar.addEventRule(
          `Hub${eventType.id}`,
          { ...eventPatternFor(eventType), account: accounts, region: regions },
          {
            description: `istio-vm-registrar hub: ${eventType.source} "${eventType.detailType}" from the spokes to the registrar queue`,
            eventBus: this.eventBus,
          },
        ),
      );
    }
  }
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function validate(scope: Construct, props: RegistrarHubProps & { spokes: readonly SpokeLocation[] }): void {
  const problems: string[] = [];
  if (props.spokes.length === 0) problems.push('spokes names no account/region');
  const seen = new Set<string>();
  for (const { account, region } of props.spokes) {
    if (!Token.isUnresolved(account) && !/^\d{12}$/.test(account))
      problems.push(`spokes: "${account}" is not a 12-digit account id`);
    if (!Token.isUnresolved(region) && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region))
      problems.push(`spokes: "${region}" is not a region`);
    const key = `${account}:${region}`;
    if (seen.has(key)) problems.push(`spokes names ${key} twice`);
    seen.add(key);
  }
  if (props.organizationId && !/^o-[a-z0-9]{10,32}$/.test(props.organizationId)) {
    problems.push(`organizationId "${props.organizationId}" is not an organization id (o-...)`);
  }
  if (problems.length > 0) {
    throw new Error(`RegistrarHub (${scope.node.path}): invalid configuration: ${problems.join('; ')}`);
  }
}
