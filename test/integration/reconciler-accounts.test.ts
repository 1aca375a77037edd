import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Metric } from '../../shared/constants.ts';
import { telemetry } from '../../shared/observability.ts';
import { type Harness, instance, NAMESPACE, reviewsGroup, startHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';
import { type AwsAccountsStandIn, startAwsAccounts } from '../standins/aws-api/accounts.ts';

const HOME = { account: '111111111111', region: 'us-west-2' };
const SPOKE = { account: '222222222222', region: 'eu-west-1' };
const SPOKE_B = { account: '333333333333', region: 'ap-southeast-2' };
const ROLE = (account: string) => `arn:aws:iam::${account}:role/istio-vm-registrar-member`;
const EXTERNAL_ID = 'mesh-7f3a';
const ratings = { tags: { 'istio-vm/workload-group': `${NAMESPACE}/ratings` } };
const zone = (region: string) => ({ availabilityZone: `${region}a` });

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
  });
  h.kube.seed(reviewsGroup());
  h.kube.seed(reviewsGroup({ name: 'ratings' }));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
  await accounts.close();
});

const entries = () =>
  Object.fromEntries(
    h
      .entries()
      .map((e) => [
        e.metadata.name,
        `${e.metadata.annotations?.['istio-vm-registrar.io/account-id']} ${e.spec.locality}`,
      ])
      .sort(),
  );

describe('Reconciler: a fleet across accounts and regions', () => {
  it('lists every configured account/region with its own credentials and registers each instance there', async () => {
    // Prepare
    accounts.at(HOME.account, HOME.region).putInstance(instance('i-0a00000000000a001', zone(HOME.region)));
    accounts.at(SPOKE.account, SPOKE.region).putInstance(instance('i-0b00000000000b001', zone(SPOKE.region)));
    accounts
      .at(SPOKE_B.account, SPOKE_B.region)
      .putInstance(instance('i-0c00000000000c001', { ...zone(SPOKE_B.region), ...ratings }));
    // Act
    const summary = await reconcilerFromEnv().run();
    // Assess
    expect(summary.errors).toEqual([]);
    expect(summary.totals).toMatchObject({ create: 3, failed: 0 });
    expect(entries()).toEqual({
      'ratings-i-0c00000000000c001': `${SPOKE_B.account} ap-southeast-2/ap-southeast-2a`,
      'reviews-i-0a00000000000a001': `${HOME.account} us-west-2/us-west-2a`,
      'reviews-i-0b00000000000b001': `${SPOKE.account} eu-west-1/eu-west-1a`,
    });
    const issued = new Map(accounts.assumeRoleCalls().map((c) => [c.issuedAccessKeyId, c]));
    expect([...issued.values()].map((c) => [c.roleArn, c.externalId])).toEqual([
      [ROLE(SPOKE.account), EXTERNAL_ID],
      [ROLE(SPOKE_B.account), EXTERNAL_ID],
    ]);
    // Every request reached the pair it was about, signed for that pair's account.
    for (const r of accounts.requests()) {
      const expected = r.account === HOME.account ? accounts.homeAccessKeyId : undefined;
      if (expected) expect(r.accessKeyId).toBe(expected);
      else expect(issued.get(r.accessKeyId)?.roleArn).toBe(ROLE(r.account));
    }
    const listings = new Set(
      accounts
        .requests()
        .filter((r) => r.action === 'DescribeInstances')
        .map((r) => `${r.account}:${r.region}`),
    );
    expect(listings).toEqual(
      new Set([
        `${HOME.account}:${HOME.region}`,
        `${SPOKE.account}:${SPOKE.region}`,
        `${SPOKE_B.account}:${SPOKE_B.region}`,
      ]),
    );
  });

  it('a spoke that denies AssumeRole: no deletions for the groups with entries there, reported and counted; the rest converges', async () => {
    // Prepare: reviews lives at home and in the spoke, ratings at home only; all registered
    const home = accounts.at(HOME.account, HOME.region);
    const spoke = accounts.at(SPOKE.account, SPOKE.region);
    home.putInstance(instance('i-0a00000000000a001', zone(HOME.region)));
    home.putInstance(instance('i-0a00000000000a002', zone(HOME.region)));
    home.putInstance(instance('i-0a00000000000a003', { ...zone(HOME.region), ...ratings }));
    spoke.putInstance(instance('i-0b00000000000b001', zone(SPOKE.region)));
    await reconcilerFromEnv().run();
    expect(Object.keys(entries())).toHaveLength(4);
    // ...then the spoke's trust breaks, and instances leave at home and in the spoke
    accounts.denyAssumeRole(ROLE(SPOKE.account));
    home.setState('i-0a00000000000a002', 'terminated');
    home.setState('i-0a00000000000a003', 'terminated');
    spoke.removeInstance('i-0b00000000000b001');
    home.putInstance(instance('i-0a00000000000a004', zone(HOME.region)));
    const count = vi.spyOn(telemetry, 'count');

    // Act
    const summary = await reconcilerFromEnv().run();

    // Assess: ratings (home only) converges; reviews deletes nothing; reviews still gets its create
    expect(Object.keys(entries()).sort()).toEqual([
      'reviews-i-0a00000000000a001',
      'reviews-i-0a00000000000a002',
      'reviews-i-0a00000000000a004',
      'reviews-i-0b00000000000b001',
    ]);
    expect(summary.incompleteListing).toBeUndefined();
    expect(Object.keys(summary.unlistedLocations ?? {})).toEqual([`${SPOKE.account}:${SPOKE.region}`]);
    expect(summary.unlistedLocations?.[`${SPOKE.account}:${SPOKE.region}`]).toMatch(
      /cannot assume arn:aws:iam::222222222222:role\/istio-vm-registrar-member .*AccessDenied/,
    );
    expect(summary.errors).toContainEqual(
      expect.stringMatching(
        /^listing EC2 instances in 222222222222:eu-west-1 failed: .*; no deletions for the groups with entries there \(bookinfo\/reviews\)$/,
      ),
    );
    expect(
      summary.changes
        .filter((c) => c.action === 'delete')
        .map((c) => [c.entry, c.status])
        .sort(),
    ).toEqual([
      [`${NAMESPACE}/ratings-i-0a00000000000a003`, 'applied'],
      [`${NAMESPACE}/reviews-i-0a00000000000a002`, 'withheld'],
      [`${NAMESPACE}/reviews-i-0b00000000000b001`, 'withheld'],
    ]);
    expect(summary.converged).toBe(false);
    expect(count).toHaveBeenCalledWith(Metric.ReconcileLocationsUnlisted, 1);
    expect(count).toHaveBeenCalledWith(Metric.SpokeAccessErrors, 1, {
      name: 'Location',
      value: `${SPOKE.account}:${SPOKE.region}`,
    });
  });

  it('never deletes on an unlisted spoke even when forced', async () => {
    // Prepare
    accounts.at(SPOKE.account, SPOKE.region).putInstance(instance('i-0b00000000000b001', zone(SPOKE.region)));
    await reconcilerFromEnv().run();
    accounts.denyAssumeRole(ROLE(SPOKE.account));
    accounts.at(SPOKE.account, SPOKE.region).removeInstance('i-0b00000000000b001');
    // Act
    const summary = await reconcilerFromEnv().run({ force: true });
    // Assess
    expect(Object.keys(entries())).toEqual(['reviews-i-0b00000000000b001']);
    expect(summary.changes).toEqual([expect.objectContaining({ action: 'delete', status: 'withheld' })]);
  });

  it('leaves the entries of a pair removed from the configuration alone, even forced, and says why', async () => {
    // Prepare: registered from SPOKE_B, then SPOKE_B is dropped from SPOKE_ACCOUNT_REGIONS
    accounts
      .at(SPOKE_B.account, SPOKE_B.region)
      .putInstance(instance('i-0c00000000000c001', { ...zone(SPOKE_B.region), ...ratings }));
    await reconcilerFromEnv().run();
    expect(Object.keys(entries())).toEqual(['ratings-i-0c00000000000c001']);
    process.env.SPOKE_ACCOUNT_REGIONS = `${SPOKE.account}:${SPOKE.region}`;
    // Act
    const summary = await reconcilerFromEnv().run({ force: true });
    // Assess
    expect(Object.keys(entries())).toEqual(['ratings-i-0c00000000000c001']);
    expect(summary.changes).toEqual([
      expect.objectContaining({
        action: 'delete',
        status: 'withheld',
        entry: `${NAMESPACE}/ratings-i-0c00000000000c001`,
      }),
    ]);
    expect(summary.errors).toContainEqual(
      expect.stringContaining(
        `re-reading instances in ${SPOKE_B.account}:${SPOKE_B.region} before writing failed`,
      ),
    );
  });
});
