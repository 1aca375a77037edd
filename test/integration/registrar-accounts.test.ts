import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Metric } from '../../shared/constants.ts';
import { telemetry } from '../../shared/observability.ts';
import { eventText, stateChange } from '../helpers/fixtures.ts';
import { type Harness, instance, NAMESPACE, reviewsGroup, startHarness } from '../helpers/harness.ts';
import { type AwsAccountsStandIn, startAwsAccounts } from '../standins/aws-api/accounts.ts';

const HOME = { account: '111111111111', region: 'us-west-2' };
const SPOKE = { account: '222222222222', region: 'eu-west-1' };
const SPOKE_B = { account: '333333333333', region: 'ap-southeast-2' };
const ROLE = (account: string) => `arn:aws:iam::${account}:role/istio-vm-registrar-member`;
const EXTERNAL_ID = 'mesh-7f3a';

/** An EventBridge event of `account`/`region` (what the hub bus delivers: the spoke's own fields). */
const from = (where: { account: string; region: string }, body: string) =>
  JSON.stringify({ ...(JSON.parse(body) as object), ...where });

const lifecycleLaunch = (where: { account: string; region: string }, instanceId: string) => {
  const sample = JSON.parse(eventText('asg-ec2-instance-launch-lifecycle-action.json')) as {
    detail: Record<string, unknown>;
  };
  return JSON.stringify({
    ...sample,
    ...where,
    detail: { ...sample.detail, EC2InstanceId: instanceId, LifecycleHookName: 'istio-vm-registrar-launch' },
  });
};

let accounts: AwsAccountsStandIn;
let h: Harness;

beforeEach(async () => {
  accounts = await startAwsAccounts({ home: HOME, locations: [SPOKE, SPOKE_B] });
  for (const account of [SPOKE.account, SPOKE_B.account])
    accounts.addRole({ arn: ROLE(account), trustedAccounts: [HOME.account], externalId: EXTERNAL_ID });
  h = await startHarness({
    ...accounts.env(),
    HOME_ACCOUNT_ID: HOME.account,
    SPOKE_ACCOUNT_REGIONS: `${SPOKE.account}:${SPOKE.region},${SPOKE_B.account}:${SPOKE_B.region}`,
    MEMBER_EXTERNAL_ID: EXTERNAL_ID,
    LIFECYCLE_HOOK_NAMES: 'istio-vm-registrar-launch',
  });
  h.kube.seed(reviewsGroup());
});
afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
  await accounts.close();
});

const entryNames = () =>
  h
    .entries()
    .map((e) => e.metadata.name)
    .sort();
const counted = (spy: { mock: { calls: unknown[][] } }, name: string): number =>
  spy.mock.calls.filter(([n]) => n === name).reduce((sum: number, [, value]) => sum + Number(value ?? 1), 0);

describe('Registrar handler: instances in other accounts and regions', () => {
  it('reads a spoke instance in its own account and region with the assumed role, and registers it there', async () => {
    // Prepare
    accounts
      .at(SPOKE.account, SPOKE.region)
      .putInstance(instance('i-0b00000000000b001', { availabilityZone: 'eu-west-1b' }));
    // Act
    const response = await h.send([from(SPOKE, stateChange('i-0b00000000000b001', 'running'))]);
    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const [entry] = h.entries();
    expect(entry?.spec.locality).toBe('eu-west-1/eu-west-1b');
    expect(entry?.metadata.annotations?.['istio-vm-registrar.io/account-id']).toBe(SPOKE.account);
    const [assumed] = accounts.assumeRoleCalls();
    expect(assumed).toMatchObject({
      roleArn: ROLE(SPOKE.account),
      externalId: EXTERNAL_ID,
      callerAccount: HOME.account,
      outcome: 'issued',
    });
    const describes = accounts.requests().filter((r) => r.action === 'DescribeInstances');
    expect(describes.length).toBeGreaterThan(0);
    for (const r of describes) expect(r).toMatchObject({ ...SPOKE, accessKeyId: assumed!.issuedAccessKeyId });
  });

  it('reuses one session for every record and invocation, and reads each location once per batch', async () => {
    // Prepare
    accounts.at(HOME.account, HOME.region).putInstance(instance('i-0a00000000000a001'));
    accounts.at(SPOKE.account, SPOKE.region).putInstance(instance('i-0b00000000000b001'));
    accounts.at(SPOKE.account, SPOKE.region).putInstance(instance('i-0b00000000000b002'));
    accounts.at(SPOKE_B.account, SPOKE_B.region).putInstance(instance('i-0c00000000000c001'));
    // Act: one mixed batch, then another invocation for the same spoke
    const first = await h.send([
      from(HOME, stateChange('i-0a00000000000a001', 'running')),
      from(SPOKE, stateChange('i-0b00000000000b001', 'running')),
      from(SPOKE_B, stateChange('i-0c00000000000c001', 'running')),
      from(SPOKE, stateChange('i-0b00000000000b002', 'running')),
    ]);
    const requestsAfterFirst = accounts.requests().length;
    const second = await h.send([from(SPOKE, stateChange('i-0b00000000000b002', 'running'))]);
    // Assess
    expect([...first.batchItemFailures, ...second.batchItemFailures]).toEqual([]);
    expect(entryNames()).toEqual([
      'reviews-i-0a00000000000a001',
      'reviews-i-0b00000000000b001',
      'reviews-i-0b00000000000b002',
      'reviews-i-0c00000000000c001',
    ]);
    expect(accounts.assumeRoleCalls().map((c) => c.roleArn)).toEqual([
      ROLE(SPOKE.account),
      ROLE(SPOKE_B.account),
    ]);
    // The first batch: one read per location before the writes and one re-read per location after.
    const firstBatch = accounts
      .requests()
      .slice(0, requestsAfterFirst)
      .filter((r) => r.action === 'DescribeInstances');
    const perLocation = new Map<string, number>();
    for (const r of firstBatch)
      perLocation.set(`${r.account}:${r.region}`, (perLocation.get(`${r.account}:${r.region}`) ?? 0) + 1);
    expect(Object.fromEntries(perLocation)).toEqual({
      [`${HOME.account}:${HOME.region}`]: 2,
      [`${SPOKE.account}:${SPOKE.region}`]: 2,
      [`${SPOKE_B.account}:${SPOKE_B.region}`]: 2,
    });
  });

  it('completes a spoke lifecycle action in the spoke', async () => {
    // Prepare
    const spoke = accounts.at(SPOKE.account, SPOKE.region);
    spoke.putInstance(instance('i-0b00000000000b001'));
    spoke.addLifecycleAction({
      autoScalingGroupName: 'my-asg',
      lifecycleHookName: 'istio-vm-registrar-launch',
      instanceId: 'i-0b00000000000b001',
      token: '87654321-4321-4321-4321-210987654321',
      transition: 'launching',
    });
    // Act
    const response = await h.send([lifecycleLaunch(SPOKE, 'i-0b00000000000b001')]);
    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(spoke.completedLifecycleActions()).toEqual([
      expect.objectContaining({ instanceId: 'i-0b00000000000b001', result: 'CONTINUE' }),
    ]);
    expect(accounts.at(HOME.account, HOME.region).completedLifecycleActions()).toEqual([]);
  });

  it('a spoke that denies AssumeRole: clear error, metric, the record back in the queue; the others converge', async () => {
    // Prepare
    accounts.denyAssumeRole(ROLE(SPOKE.account));
    accounts.at(HOME.account, HOME.region).putInstance(instance('i-0a00000000000a001'));
    accounts.at(SPOKE.account, SPOKE.region).putInstance(instance('i-0b00000000000b001'));
    const count = vi.spyOn(telemetry, 'count');
    const { logger } = await import('../../shared/observability.ts');
    const errors = vi.spyOn(logger, 'error');
    // Act
    const response = await h.send([
      from(HOME, stateChange('i-0a00000000000a001', 'running')),
      from(SPOKE, stateChange('i-0b00000000000b001', 'running')),
    ]);
    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'batch1-1' }]);
    expect(entryNames()).toEqual(['reviews-i-0a00000000000a001']);
    expect(count).toHaveBeenCalledWith(Metric.SpokeAccessErrors, 1, {
      name: 'Location',
      value: `${SPOKE.account}:${SPOKE.region}`,
    });
    expect(counted(count, Metric.EventsFailed)).toBe(1);
    const messages = errors.mock.calls.map(([m]) => String(m));
    expect(messages.some((m) => m.includes(`spoke ${SPOKE.account}:${SPOKE.region} unreachable`))).toBe(true);
    expect(
      messages.some((m) =>
        m.includes(`cannot assume ${ROLE(SPOKE.account)} for account ${SPOKE.account}: AccessDenied`),
      ),
    ).toBe(true);
    // Fixed spoke, redelivered record: converges.
    accounts.allowAssumeRole(ROLE(SPOKE.account));
    const retry = await h.send([from(SPOKE, stateChange('i-0b00000000000b001', 'running'))]);
    expect(retry.batchItemFailures).toEqual([]);
    expect(entryNames()).toEqual(['reviews-i-0a00000000000a001', 'reviews-i-0b00000000000b001']);
  });

  it('never deletes an entry on the word of another account: a forged claim finds nothing and deletes nothing', async () => {
    // Prepare: registered from home
    accounts.at(HOME.account, HOME.region).putInstance(instance('i-0a00000000000a001'));
    await h.send([from(HOME, stateChange('i-0a00000000000a001', 'running'))]);
    expect(entryNames()).toEqual(['reviews-i-0a00000000000a001']);
    // Act: an event claiming the same instance id from a spoke, where EC2 does not know it
    const response = await h.send([from(SPOKE, stateChange('i-0a00000000000a001', 'terminated'))]);
    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(entryNames()).toEqual(['reviews-i-0a00000000000a001']);
    expect(accounts.requests().at(-1)).toMatchObject({ ...SPOKE, action: 'DescribeInstances' });
  });

  it('drops an event from an unconfigured account or region without any AWS call', async () => {
    // Prepare
    const count = vi.spyOn(telemetry, 'count');
    const before = accounts.requests().length;
    // Act
    const response = await h.send([
      from({ account: '444444444444', region: 'eu-west-1' }, stateChange('i-0d00000000000d001', 'running')),
      from({ account: SPOKE.account, region: 'us-west-2' }, stateChange('i-0d00000000000d002', 'running')),
    ]);
    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(accounts.requests()).toHaveLength(before);
    expect(accounts.assumeRoleCalls()).toEqual([]);
    expect(counted(count, Metric.EventsFromUnknownLocation)).toBe(2);
  });

  it('checks the allowed-accounts annotation against the owner EC2 reports in the account it answered for', async () => {
    // Prepare: a group that admits the spoke account only
    h.kube.seed(
      reviewsGroup({
        name: 'ratings',
        annotations: { 'istio-vm-registrar.io/allowed-accounts': SPOKE.account },
      }),
    );
    const ratings = { tags: { 'istio-vm/workload-group': `${NAMESPACE}/ratings` } };
    accounts.at(HOME.account, HOME.region).putInstance(instance('i-0a00000000000a001', ratings));
    accounts.at(SPOKE.account, SPOKE.region).putInstance(instance('i-0b00000000000b001', ratings));
    // Act: the home instance's own event (read at home, owner 111...: refused), the spoke's
    // (admitted), and a claim that the home instance lives in the spoke (read there: unknown to EC2)
    await h.send([
      from(HOME, stateChange('i-0a00000000000a001', 'running')),
      from(SPOKE, stateChange('i-0b00000000000b001', 'running')),
      from(SPOKE, stateChange('i-0a00000000000a001', 'running')),
    ]);
    // Assess
    expect(entryNames()).toEqual(['ratings-i-0b00000000000b001']);
  });

  it('gives spoke instances the network NETWORK_MAP names for their account and VPC', async () => {
    // Prepare
    await h.close();
    h = await startHarness({
      ...accounts.env(),
      HOME_ACCOUNT_ID: HOME.account,
      SPOKE_ACCOUNT_REGIONS: `${SPOKE.account}:${SPOKE.region}`,
      MEMBER_EXTERNAL_ID: EXTERNAL_ID,
      NETWORK_MAP: `${SPOKE.account}=spoke-net,${SPOKE.account}:vpc-0b1b2c3d4e5f60001=spoke-vpc-net`,
    });
    h.kube.seed(reviewsGroup());
    const spoke = accounts.at(SPOKE.account, SPOKE.region);
    spoke.putInstance(
      instance('i-0b00000000000b001', {
        vpcId: 'vpc-0b1b2c3d4e5f60001',
        subnetId: 'subnet-0b1b2c3d4e5f60001',
      }),
    );
    spoke.putInstance(
      instance('i-0b00000000000b002', {
        vpcId: 'vpc-0b1b2c3d4e5f60002',
        subnetId: 'subnet-0b1b2c3d4e5f60002',
      }),
    );
    spoke.putInstance(
      instance('i-0b00000000000b003', {
        vpcId: 'vpc-0b1b2c3d4e5f60001',
        subnetId: 'subnet-0b1b2c3d4e5f60001',
        tags: { 'istio-vm/workload-group': `${NAMESPACE}/reviews`, 'istio-vm/network': 'tagged-net' },
      }),
    );
    // Act
    await h.send(
      ['i-0b00000000000b001', 'i-0b00000000000b002', 'i-0b00000000000b003'].map((id) =>
        from(SPOKE, stateChange(id, 'running')),
      ),
    );
    // Assess
    expect(Object.fromEntries(h.entries().map((e) => [e.metadata.name, e.spec.network]))).toEqual({
      'reviews-i-0b00000000000b001': 'spoke-vpc-net',
      'reviews-i-0b00000000000b002': 'spoke-net',
      'reviews-i-0b00000000000b003': 'tagged-net',
    });
  });
});
