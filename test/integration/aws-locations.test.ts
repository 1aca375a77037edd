import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { FleetAws } from '../../shared/adapters/aws-locations.ts';
import { Deadline } from '../../shared/adapters/deadline.ts';
import { MemberAccessError } from '../../shared/adapters/errors.ts';
import type { Fleet } from '../../shared/domain/locations.ts';
import { type AwsAccountsStandIn, startAwsAccounts } from '../standins/aws-api/accounts.ts';

const HOME = { account: '111111111111', region: 'us-west-2' };
const SPOKE = { account: '222222222222', region: 'eu-west-1' };
const SPOKE_OTHER_REGION = { account: '222222222222', region: 'us-east-1' };
const ROLE = 'arn:aws:iam::222222222222:role/istio-vm-registrar-member';
const FLEET: Fleet = { home: HOME, spokes: [SPOKE, SPOKE_OTHER_REGION] };

let aws: AwsAccountsStandIn;
const saved = { ...process.env };

beforeAll(async () => {
  aws = await startAwsAccounts({ home: HOME, locations: [SPOKE, SPOKE_OTHER_REGION] });
  Object.assign(process.env, aws.env());
});
afterAll(async () => {
  process.env = saved;
  await aws.close();
});

const newFleet = (options: { refreshBeforeExpiryMs?: number } = {}) =>
  new FleetAws({
    fleet: FLEET,
    memberRole: { name: 'istio-vm-registrar-member', externalId: 'mesh-external-id' },
    ...options,
  });

const instance = (instanceId: string) => ({
  instanceId,
  state: 'running' as const,
  privateIpAddress: '10.1.0.5',
  availabilityZone: 'eu-west-1a',
  launchTime: '2026-11-26T09:00:00.000Z',
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  tags: {},
});

describe('Class: FleetAws (per account/region clients, member role sessions)', () => {
  beforeEach(() => {
    aws.allowAssumeRole(ROLE);
    aws.setSessionLifetime(undefined);
    aws.addRole({ arn: ROLE, trustedAccounts: [HOME.account], externalId: 'mesh-external-id' });
  });

  it('reads a home instance with its own credentials and assumes no role', async () => {
    // Prepare
    aws.at(HOME.account, HOME.region).putInstance(instance('i-0000000000000a001'));
    const before = aws.assumeRoleCalls().length;
    // Act
    const found = await newFleet().home.ec2.describe(['i-0000000000000a001']);
    // Assess
    expect(found.get('i-0000000000000a001')).toMatchObject({
      account: HOME.account,
      ownerId: HOME.account,
      region: HOME.region,
    });
    expect(aws.assumeRoleCalls()).toHaveLength(before);
    expect(aws.requests().at(-1)).toMatchObject({ ...HOME, accessKeyId: aws.homeAccessKeyId });
  });

  it('reads a spoke instance in its own account and region with the assumed role, one session for both clients and every invocation', async () => {
    // Prepare
    aws.at(SPOKE.account, SPOKE.region).putInstance(instance('i-0000000000000b001'));
    const fleet = newFleet();
    const before = aws.assumeRoleCalls().length;
    // Act: two "invocations", each with its own deadline, EC2 and Auto Scaling in both
    for (let i = 0; i < 2; i++) {
      const invocation = fleet.withDeadline(new Deadline(Date.now() + 10_000)).at(SPOKE);
      const found = await invocation.ec2.describe(['i-0000000000000b001']);
      expect(found.get('i-0000000000000b001')).toMatchObject({
        account: SPOKE.account,
        ownerId: SPOKE.account,
        region: SPOKE.region,
        vpcId: 'vpc-0a1b2c3d4e5f60718',
      });
      await invocation.autoscaling.lifecycleStates(['i-0000000000000b001']);
    }
    // Assess
    const calls = aws.assumeRoleCalls().slice(before);
    expect(calls).toEqual([
      expect.objectContaining({
        roleArn: ROLE,
        externalId: 'mesh-external-id',
        roleSessionName: 'istio-vm-registrar',
        durationSeconds: 3600,
        callerAccount: HOME.account,
        outcome: 'issued',
      }),
    ]);
    const spokeRequests = aws.requests().filter((r) => r.account === SPOKE.account);
    expect(spokeRequests.length).toBeGreaterThanOrEqual(3);
    for (const r of spokeRequests)
      expect(r).toMatchObject({ region: SPOKE.region, accessKeyId: calls[0]!.issuedAccessKeyId });
  });

  it('shares one session between the regions of an account', async () => {
    // Prepare
    const fleet = newFleet();
    const before = aws.assumeRoleCalls().length;
    // Act
    await fleet.at(SPOKE).ec2.describe(['i-0000000000000b002']);
    await fleet.at(SPOKE_OTHER_REGION).ec2.describe(['i-0000000000000b002']);
    // Assess
    expect(aws.assumeRoleCalls().slice(before)).toHaveLength(1);
    expect(aws.requests().slice(-1)[0]).toMatchObject(SPOKE_OTHER_REGION);
  });

  it('keeps the session until shortly before it expires, then renews it once', async () => {
    // Prepare: six-minute sessions, renewed five minutes before they end; only Date is faked
    aws.setSessionLifetime(360);
    const fleet = newFleet({ refreshBeforeExpiryMs: 5 * 60_000 });
    const before = aws.assumeRoleCalls().length;
    const issued = () =>
      aws
        .assumeRoleCalls()
        .slice(before)
        .filter((c) => c.outcome === 'issued').length;
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      // Act + Assess
      await fleet.at(SPOKE).ec2.describe(['i-0000000000000b003']);
      await fleet.at(SPOKE).ec2.describe(['i-0000000000000b003']);
      expect(issued()).toBe(1);
      vi.setSystemTime(Date.now() + 2 * 60_000);
      await fleet.at(SPOKE).ec2.describe(['i-0000000000000b003']);
      await fleet.at(SPOKE).autoscaling.lifecycleStates(['i-0000000000000b003']);
      expect(issued()).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a spoke that denies AssumeRole as a retriable MemberAccessError naming the role, and asks again next time', async () => {
    // Prepare
    aws.denyAssumeRole(ROLE);
    const fleet = newFleet();
    const before = aws.assumeRoleCalls().length;
    // Act
    const first = await fleet
      .at(SPOKE)
      .ec2.describe(['i-0000000000000b004'])
      .catch((e: unknown) => e);
    const second = await fleet
      .at(SPOKE)
      .autoscaling.lifecycleStates(['i-0000000000000b004'])
      .catch((e: unknown) => e);
    // Assess
    for (const error of [first, second]) {
      expect(error).toBeInstanceOf(MemberAccessError);
      expect(error).toMatchObject({ retriable: true, account: SPOKE.account, roleArn: ROLE });
      expect((error as Error).message).toMatch(
        /cannot assume arn:aws:iam::222222222222:role\/istio-vm-registrar-member .*AccessDenied/,
      );
    }
    expect(
      aws
        .assumeRoleCalls()
        .slice(before)
        .map((c) => c.outcome),
    ).toEqual(['denied', 'denied']);
    expect(
      aws.requests().filter((r) => r.account === SPOKE.account && r.accessKeyId === aws.homeAccessKeyId),
    ).toEqual([]);
  });

  it('presents the ExternalId: a role requiring another one refuses', async () => {
    // Prepare
    aws.addRole({ arn: ROLE, trustedAccounts: [HOME.account], externalId: 'another-id' });
    // Act
    const error = await newFleet()
      .at(SPOKE)
      .ec2.describe(['i-0000000000000b005'])
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(MemberAccessError);
    expect(aws.assumeRoleCalls().at(-1)).toMatchObject({ externalId: 'mesh-external-id', outcome: 'denied' });
  });

  it('refuses a location that is not configured', () => {
    expect(() => newFleet().at({ account: '333333333333', region: 'eu-west-1' })).toThrow(
      /not a configured location/,
    );
  });
});
