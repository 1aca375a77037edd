import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetApp } from '../../functions/registrar/handler.ts';
import { createApp } from '../../shared/app/wiring.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { type Harness, instance, reviewsGroup, startHarness } from '../helpers/harness.ts';
import {
  createRegistrarQueues,
  lifecycleEvent,
  pumpQueue,
  TERMINATE_HOOK,
  VirtualClock,
} from '../helpers/lifecycle.ts';
import { type AwsAccountsStandIn, startAwsAccounts } from '../standins/aws-api/accounts.ts';
import { type AwsApiStandIn, startAwsApi } from '../standins/aws-api/index.ts';

/**
 * A drained scale-in in another account and region: the hook's timeouts are read, the continuation
 * carries the location, and the action is completed in the spoke, never at home.
 */
const HOME = { account: '111111111111', region: 'us-west-2' };
const SPOKE = { account: '222222222222', region: 'eu-west-1' };
const ROLE = `arn:aws:iam::${SPOKE.account}:role/istio-vm-registrar-member`;
const ID = 'i-0b00000000000b0c1';
const TOKEN = 'c0ffee00-0000-4000-8000-0000000000b1';
const from = (body: string) => JSON.stringify({ ...(JSON.parse(body) as object), ...SPOKE });

describe('Lifecycle: a drained scale-in in a spoke account', () => {
  let accounts: AwsAccountsStandIn;
  let queueHost: AwsApiStandIn;
  let h: Harness;
  let clock: VirtualClock;
  let queueUrl: string;

  beforeEach(async () => {
    clock = new VirtualClock();
    accounts = await startAwsAccounts({ home: HOME, locations: [SPOKE] });
    accounts.addRole({ arn: ROLE, trustedAccounts: [HOME.account], externalId: 'mesh-7f3a' });
    queueHost = await startAwsApi({ region: HOME.region, now: clock.now });
    queueUrl = createRegistrarQueues(queueHost).queueUrl;
    h = await startHarness({
      ...accounts.env(),
      HOME_ACCOUNT_ID: HOME.account,
      SPOKE_ACCOUNT_REGIONS: `${SPOKE.account}:${SPOKE.region}`,
      MEMBER_EXTERNAL_ID: 'mesh-7f3a',
      LIFECYCLE_HOOK_NAMES: TERMINATE_HOOK,
      LIFECYCLE_QUEUE_URL: queueUrl,
      // The queue lives on its own stand-in: the SQS client is pointed at it, as at SQS's endpoint.
      AWS_ENDPOINT_URL_SQS: queueHost.url,
    });
    resetApp(createApp(process.env, { now: clock.now }));
    h.kube.seed(reviewsGroup());
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await h.close();
    await Promise.all([accounts.close(), queueHost.close()]);
  });

  it('completes the action in the spoke after the drain, reading its hook there', async () => {
    // Prepare: a registered spoke VM that the spoke's Auto Scaling now holds in Terminating:Wait.
    const spoke = accounts.at(SPOKE.account, SPOKE.region);
    spoke.putInstance(instance(ID, { availabilityZone: 'eu-west-1b' }));
    queueHost.enqueue(queueUrl, from(stateChange(ID, 'running')));
    await pumpQueue(queueHost, queueUrl, clock);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${ID}`]);
    spoke.addLifecycleHook({
      autoScalingGroupName: 'my-asg',
      lifecycleHookName: TERMINATE_HOOK,
      transition: 'terminating',
      heartbeatTimeout: 300,
    });
    spoke.addLifecycleAction({
      autoScalingGroupName: 'my-asg',
      lifecycleHookName: TERMINATE_HOOK,
      instanceId: ID,
      token: TOKEN,
      transition: 'terminating',
    });
    const start = clock.now();

    // Act
    queueHost.enqueue(queueUrl, from(lifecycleEvent('terminating', ID, { token: TOKEN, time: start })));
    await pumpQueue(queueHost, queueUrl, clock);

    // Assess
    expect(h.entries()).toEqual([]);
    expect(spoke.completedLifecycleActions()).toEqual([
      expect.objectContaining({ token: TOKEN, result: 'CONTINUE', by: 'call', at: expect.any(Number) }),
    ]);
    expect(accounts.at(HOME.account, HOME.region).completedLifecycleActions()).toEqual([]);
    const continuation = queueHost.calls().find((c) => c.action === 'SendMessage')!;
    expect(continuation.params.DelaySeconds).toBe('30');
    expect(JSON.parse(continuation.params.MessageBody!)).toMatchObject(SPOKE);
    const spokeCalls = accounts.requests().filter((r) => r.account === SPOKE.account);
    expect(spokeCalls.map((r) => r.action)).toEqual(
      expect.arrayContaining(['DescribeLifecycleHooks', 'CompleteLifecycleAction']),
    );
    expect(
      accounts.requests().filter((r) => r.account === HOME.account && r.action === 'CompleteLifecycleAction'),
    ).toEqual([]);
  });
});
