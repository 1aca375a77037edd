import { readFileSync } from 'node:fs';
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLaunchConfigurationsCommand,
  DescribeWarmPoolCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  DescribeVpcsCommand,
  EC2Client,
  type Instance,
  paginateDescribeInstances,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AwsApiStandIn,
  type FakeInstance,
  type InstanceStateName,
  startAwsApi,
} from '#test/standins/aws-api/index.ts';

const FIXTURES = new URL('../../fixtures/ec2/', import.meta.url);
const credentials = { accessKeyId: 'AKIDSTANDINTEST', secretAccessKey: 'not-a-secret' };
const ASG_TAG = 'aws:autoscaling:groupName';

/** Instance ids of the 17-hex form, stable per index. */
function instanceIdFor(n: number): string {
  return `i-0${n.toString(16).padStart(16, '0')}`;
}

function fakeInstance(n: number, overrides: Partial<FakeInstance> = {}): FakeInstance {
  return {
    instanceId: instanceIdFor(n),
    state: 'running',
    privateIpAddress: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    availabilityZone: n % 2 === 0 ? 'us-west-2a' : 'us-west-2b',
    tags: { 'mesh.example.com/workload': `app-${n % 3}` },
    launchTime: '2026-01-02T03:04:05.000Z',
    subnetId: 'subnet-0123456789abcdef0',
    vpcId: 'vpc-0123456789abcdef0',
    ...overrides,
  };
}

/** Runs an SDK call expected to fail and returns the error with its SDK fields. */
async function failure(promise: Promise<unknown>): Promise<{
  name: string;
  Code?: string;
  message: string;
  $metadata: { httpStatusCode?: number; attempts?: number };
}> {
  try {
    await promise;
  } catch (err) {
    return err as never;
  }
  throw new Error('expected the call to fail');
}

function idsOf(instances: Instance[]): string[] {
  return instances.map((i) => i.InstanceId!);
}

describe('Stand-in: EC2 and Auto Scaling Query API', () => {
  let api: AwsApiStandIn;
  let ec2: EC2Client;
  let autoScaling: AutoScalingClient;

  beforeEach(async () => {
    api = await startAwsApi();
    ec2 = new EC2Client({ endpoint: api.url, region: 'us-west-2', credentials, maxAttempts: 3 });
    autoScaling = new AutoScalingClient({
      endpoint: api.url,
      region: 'us-west-2',
      credentials,
      maxAttempts: 3,
    });
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    ec2.destroy();
    autoScaling.destroy();
    await api.close();
  });

  async function describeAll(input: DescribeInstancesCommandInput = {}): Promise<Instance[]> {
    const out = await ec2.send(new DescribeInstancesCommand(input));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  }

  /** Makes the SDK's jittered backoff (Math.random() * base * 2^n) tiny, so retries take ~ms. */
  function fastBackoff(): void {
    vi.spyOn(Math, 'random').mockReturnValue(0.001);
  }

  describe('DescribeInstances wire shape', () => {
    it('returns every field the registrar reads, parsed by DescribeInstancesCommand', async () => {
      // Prepare
      api.putInstance(
        fakeInstance(1, {
          privateIpAddress: '10.1.2.3',
          availabilityZone: 'us-west-2c',
          tags: { Name: 'web-1', [ASG_TAG]: 'web-asg' },
          launchTime: '2026-03-04T05:06:07.000Z',
          ownerId: '210987654321',
          instanceType: 'm7g.large',
          imageId: 'ami-0fedcba9876543210',
          instanceLifecycle: 'spot',
        }),
      );

      // Act
      const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceIdFor(1)] }));

      // Assess
      expect(out.$metadata.httpStatusCode).toBe(200);
      expect(out.Reservations).toHaveLength(1);
      const reservation = out.Reservations![0]!;
      expect(reservation.OwnerId).toBe('210987654321');
      expect(reservation.ReservationId).toMatch(/^r-[0-9a-f]+$/);
      const instance = reservation.Instances![0]!;
      expect(instance.InstanceId).toBe(instanceIdFor(1));
      expect(instance.PrivateIpAddress).toBe('10.1.2.3');
      expect(instance.Placement?.AvailabilityZone).toBe('us-west-2c');
      expect(instance.State).toEqual({ Code: 16, Name: 'running' });
      expect(instance.LaunchTime).toBeInstanceOf(Date);
      expect(instance.LaunchTime?.toISOString()).toBe('2026-03-04T05:06:07.000Z');
      expect(instance.Tags).toEqual([
        { Key: 'Name', Value: 'web-1' },
        { Key: ASG_TAG, Value: 'web-asg' },
      ]);
      expect(instance.InstanceType).toBe('m7g.large');
      expect(instance.ImageId).toBe('ami-0fedcba9876543210');
      expect(instance.InstanceLifecycle).toBe('spot');
      expect(instance.SubnetId).toBe('subnet-0123456789abcdef0');
      expect(instance.VpcId).toBe('vpc-0123456789abcdef0');
      expect(instance.PrivateDnsName).toBe('ip-10-1-2-3.us-west-2.compute.internal');
      expect(instance.NetworkInterfaces).toHaveLength(1);
      expect(instance.NetworkInterfaces![0]!.PrivateIpAddress).toBe('10.1.2.3');
      expect(instance.NetworkInterfaces![0]!.PrivateIpAddresses).toEqual([
        {
          Primary: true,
          PrivateIpAddress: '10.1.2.3',
          PrivateDnsName: 'ip-10-1-2-3.us-west-2.compute.internal',
        },
      ]);
    });

    it('returns the same fields through paginateDescribeInstances, with the default owner id', async () => {
      // Prepare
      for (let n = 0; n < 12; n++) api.putInstance(fakeInstance(n));

      // Act
      const pages = [];
      for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, {})) pages.push(page);

      // Assess
      expect(pages.map((p) => p.Reservations?.length)).toEqual([5, 5, 2]);
      const reservations = pages.flatMap((p) => p.Reservations ?? []);
      expect(reservations.every((r) => r.OwnerId === '123456789012')).toBe(true);
      const instances = reservations.flatMap((r) => r.Instances ?? []);
      expect(idsOf(instances)).toEqual(Array.from({ length: 12 }, (_, n) => instanceIdFor(n)));
      const seventh = instances[7]!;
      expect(seventh.PrivateIpAddress).toBe('10.0.0.7');
      expect(seventh.Placement?.AvailabilityZone).toBe('us-west-2b');
      expect(seventh.State?.Name).toBe('running');
      expect(seventh.LaunchTime).toEqual(new Date('2026-01-02T03:04:05.000Z'));
      expect(seventh.Tags).toEqual([{ Key: 'mesh.example.com/workload', Value: 'app-1' }]);
    });

    it('reports each state with its code, and a terminated instance without network placement', async () => {
      // Prepare
      const states: InstanceStateName[] = [
        'pending',
        'running',
        'shutting-down',
        'terminated',
        'stopping',
        'stopped',
      ];
      states.forEach((state, n) => {
        api.putInstance(fakeInstance(n, { state }));
      });

      // Act
      const instances = await describeAll();

      // Assess
      expect(instances.map((i) => [i.State?.Name, i.State?.Code])).toEqual([
        ['pending', 0],
        ['running', 16],
        ['shutting-down', 32],
        ['terminated', 48],
        ['stopping', 64],
        ['stopped', 80],
      ]);
      const terminated = instances[3]!;
      expect(terminated.PrivateIpAddress).toBeUndefined();
      expect(terminated.VpcId).toBeUndefined();
      expect(terminated.SubnetId).toBeUndefined();
      expect(terminated.NetworkInterfaces ?? []).toEqual([]);
      expect(instances[5]!.PrivateIpAddress).toBe('10.0.0.5');
    });

    it('follows setState and removeInstance, and escapes XML special characters in tags', async () => {
      // Prepare
      api.putInstance(fakeInstance(1, { tags: { 'a&b': `<"quoted" & 'apostrophe'>\r\nline2 ü 🚀` } }));
      api.putInstance(fakeInstance(2));

      // Act
      api.setState(instanceIdFor(1), 'terminated');
      api.removeInstance(instanceIdFor(2));
      const instances = await describeAll();

      // Assess
      expect(idsOf(instances)).toEqual([instanceIdFor(1)]);
      expect(instances[0]!.State?.Name).toBe('terminated');
      expect(instances[0]!.Tags).toEqual([{ Key: 'a&b', Value: `<"quoted" & 'apostrophe'>\r\nline2 ü 🚀` }]);
      expect(api.instance(instanceIdFor(1))?.state).toBe('terminated');
      expect(api.instance(instanceIdFor(2))).toBeUndefined();
      expect(api.instances()).toHaveLength(1);
    });
  });

  describe('DescribeInstances filters', () => {
    beforeEach(() => {
      api.putInstance(fakeInstance(1, { tags: { app: 'web', env: 'prod' }, availabilityZone: 'us-west-2a' }));
      api.putInstance(fakeInstance(2, { tags: { app: 'api', env: 'prod' }, availabilityZone: 'us-west-2b' }));
      api.putInstance(
        fakeInstance(3, { tags: { app: 'web', env: 'dev' }, state: 'stopped', vpcId: 'vpc-0other' }),
      );
      api.putInstance(
        fakeInstance(4, {
          tags: { owner: 'team*a' },
          subnetId: 'subnet-0other',
          availabilityZone: 'us-west-2c',
        }),
      );
      api.putInstance(fakeInstance(5, { tags: {}, state: 'terminated' }));
    });

    it.each([
      ['tag:<key>, values ORed', [{ Name: 'tag:app', Values: ['web', 'api'] }], [1, 2, 3]],
      [
        'filters ANDed',
        [
          { Name: 'tag:app', Values: ['web'] },
          { Name: 'tag:env', Values: ['prod'] },
        ],
        [1],
      ],
      ['tag-key', [{ Name: 'tag-key', Values: ['owner'] }], [4]],
      ['tag-value', [{ Name: 'tag-value', Values: ['dev', 'api'] }], [2, 3]],
      ['instance-state-name', [{ Name: 'instance-state-name', Values: ['stopped', 'terminated'] }], [3, 5]],
      ['instance-id', [{ Name: 'instance-id', Values: [instanceIdFor(2), instanceIdFor(4)] }], [2, 4]],
      ['availability-zone', [{ Name: 'availability-zone', Values: ['us-west-2a'] }], [1]],
      [
        'vpc-id (a terminated instance has none)',
        [{ Name: 'vpc-id', Values: ['vpc-0123456789abcdef0'] }],
        [1, 2, 4],
      ],
      ['subnet-id', [{ Name: 'subnet-id', Values: ['subnet-0other'] }], [4]],
      ['* wildcard', [{ Name: 'tag:app', Values: ['w*'] }], [1, 3]],
      ['? wildcard matches exactly one character', [{ Name: 'tag:app', Values: ['a?i', 'we?'] }], [1, 2, 3]],
      ['? does not match zero characters', [{ Name: 'tag:app', Values: ['web?'] }], []],
      ['escaped \\* is literal', [{ Name: 'tag:owner', Values: ['team\\*a'] }], [4]],
      ['escaped \\* does not act as a wildcard', [{ Name: 'tag:owner', Values: ['team\\*'] }], []],
      ['wildcard tag-key', [{ Name: 'tag-key', Values: ['own*'] }], [4]],
      ['tag on an instance without that key', [{ Name: 'tag:missing', Values: ['*'] }], []],
    ])('supports %s', async (_label, filters, expected) => {
      // Act
      const instances = await describeAll({ Filters: filters });

      // Assess
      expect(idsOf(instances)).toEqual(expected.map(instanceIdFor));
    });

    it('applies filters to explicitly requested instance ids', async () => {
      // Act
      const instances = await describeAll({
        InstanceIds: [instanceIdFor(1), instanceIdFor(3)],
        Filters: [{ Name: 'instance-state-name', Values: ['running'] }],
      });

      // Assess
      expect(idsOf(instances)).toEqual([instanceIdFor(1)]);
    });

    it('rejects an unknown filter name with InvalidParameterValue', async () => {
      // Act
      const err = await failure(describeAll({ Filters: [{ Name: 'no-such-filter', Values: ['x'] }] }));

      // Assess
      expect(err.name).toBe('InvalidParameterValue');
      expect(err.message).toBe("The filter 'no-such-filter' is invalid");
      expect(err.$metadata.httpStatusCode).toBe(400);
    });
  });

  describe('DescribeInstances errors', () => {
    it('fails the whole call with InvalidInstanceID.NotFound naming the one missing id', async () => {
      // Prepare
      api.putInstance(fakeInstance(1));

      // Act
      const err = await failure(describeAll({ InstanceIds: [instanceIdFor(1), 'i-0123456789abcdef0'] }));

      // Assess
      expect(err.name).toBe('InvalidInstanceID.NotFound');
      expect(err.Code).toBe('InvalidInstanceID.NotFound');
      expect(err.message).toBe("The instance ID 'i-0123456789abcdef0' does not exist");
      expect(err.$metadata.httpStatusCode).toBe(400);
    });

    it('names every missing id when several are missing', async () => {
      // Act
      const err = await failure(describeAll({ InstanceIds: ['i-12345678', 'i-0123456789abcdef0'] }));

      // Assess
      expect(err.name).toBe('InvalidInstanceID.NotFound');
      expect(err.message).toBe("The instance IDs 'i-12345678, i-0123456789abcdef0' do not exist");
    });

    it.each(['i-xyz', 'i-1234567', 'i-0123456789ABCDEF0', 'instance-1'])(
      'rejects the malformed id %s with InvalidInstanceID.Malformed',
      async (id) => {
        // Act
        const err = await failure(describeAll({ InstanceIds: [id] }));

        // Assess
        expect(err.name).toBe('InvalidInstanceID.Malformed');
        expect(err.message).toBe(`Invalid id: "${id}"`);
        expect(err.$metadata.httpStatusCode).toBe(400);
      },
    );

    it('rejects MaxResults combined with InstanceIds with InvalidParameterCombination', async () => {
      // Act
      const err = await failure(describeAll({ InstanceIds: [instanceIdFor(1)], MaxResults: 5 }));

      // Assess
      expect(err.name).toBe('InvalidParameterCombination');
      expect(err.$metadata.httpStatusCode).toBe(400);
    });

    it.each([4, 1001])('rejects MaxResults %i with InvalidParameterValue', async (maxResults) => {
      // Act
      const err = await failure(describeAll({ MaxResults: maxResults }));

      // Assess
      expect(err.name).toBe('InvalidParameterValue');
      expect(err.message).toContain(`Value ( ${maxResults} ) for parameter maxResults is invalid`);
    });

    it('rejects an invalid NextToken, and a token issued for other filters, with InvalidParameterValue', async () => {
      // Prepare
      for (let n = 0; n < 10; n++) api.putInstance(fakeInstance(n));
      const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
      expect(first.NextToken).toBeDefined();

      // Act
      const garbage = await failure(describeAll({ MaxResults: 5, NextToken: 'not-a-token' }));
      const foreign = await failure(
        describeAll({
          MaxResults: 5,
          NextToken: first.NextToken,
          Filters: [{ Name: 'tag-key', Values: ['x'] }],
        }),
      );

      // Assess
      expect(garbage.name).toBe('InvalidParameterValue');
      expect(foreign.name).toBe('InvalidParameterValue');
    });

    it('answers DryRun with DryRunOperation', async () => {
      // Act
      const err = await failure(describeAll({ DryRun: true }));

      // Assess
      expect(err.name).toBe('DryRunOperation');
      expect(err.$metadata.httpStatusCode).toBe(412);
    });
  });

  describe('DescribeInstances paging', () => {
    it('pages 2,500 tag-matching instances out of 3,000 in pages of 1,000 without loss or duplicates', async () => {
      // Prepare
      for (let n = 0; n < 3000; n++) {
        api.putInstance(
          fakeInstance(n, { tags: n % 6 === 5 ? { other: 'x' } : { 'mesh.example.com/workload': 'app' } }),
        );
      }
      api.resetStats();

      // Act
      const pageSizes: number[] = [];
      const ids: string[] = [];
      for await (const page of paginateDescribeInstances(
        { client: ec2, pageSize: 1000 },
        { Filters: [{ Name: 'tag:mesh.example.com/workload', Values: ['app'] }] },
      )) {
        const instances = (page.Reservations ?? []).flatMap((r) => r.Instances ?? []);
        pageSizes.push(instances.length);
        ids.push(...idsOf(instances));
      }

      // Assess
      expect(pageSizes).toEqual([1000, 1000, 500]);
      expect(new Set(ids).size).toBe(2500);
      expect(ids.every((id) => Number.parseInt(id.slice(2), 16) % 6 !== 5)).toBe(true);
      expect(api.stats().byAction.DescribeInstances).toBe(3);
    });

    it('keeps a listing consistent when instances change between pages', async () => {
      // Prepare
      for (let n = 0; n < 20; n++) api.putInstance(fakeInstance(n));
      const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 10 }));

      // Act
      api.removeInstance(instanceIdFor(3));
      api.putInstance(fakeInstance(25));
      const second = await ec2.send(
        new DescribeInstancesCommand({ MaxResults: 10, NextToken: first.NextToken }),
      );

      // Assess
      const secondIds = idsOf((second.Reservations ?? []).flatMap((r) => r.Instances ?? []));
      expect(secondIds).toEqual(Array.from({ length: 10 }, (_, k) => instanceIdFor(10 + k)));
      expect(second.NextToken).toBeDefined();
    });

    it('breaks a listing after failDescribeAfterPages pages with InternalError 500, retries included', async () => {
      // Prepare
      fastBackoff();
      for (let n = 0; n < 30; n++) api.putInstance(fakeInstance(n));
      api.setFaults({ failDescribeAfterPages: 2 });

      // Act
      const seen: number[] = [];
      const err = await failure(
        (async () => {
          for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, {})) {
            seen.push(page.Reservations?.length ?? 0);
          }
        })(),
      );

      // Assess
      expect(seen).toEqual([5, 5]);
      expect(err.name).toBe('InternalError');
      expect(err.$metadata.httpStatusCode).toBe(500);
      expect(err.$metadata.attempts).toBe(3);
      expect(api.stats().byAction.DescribeInstances).toBe(2 + 3);
      // lookups by id are not listings and keep working
      expect(idsOf(await describeAll({ InstanceIds: [instanceIdFor(0)] }))).toEqual([instanceIdFor(0)]);
    });

    it('lists 10,000 tag-filtered instances in pages of 1,000 through the paginator', async () => {
      // Prepare
      for (let n = 0; n < 10_000; n++) api.putInstance(fakeInstance(n));
      api.putInstance(fakeInstance(10_000, { tags: {} }));

      // Act
      const pages: number[] = [];
      for await (const page of paginateDescribeInstances(
        { client: ec2, pageSize: 1000 },
        { Filters: [{ Name: 'tag-key', Values: ['mesh.example.com/workload'] }] },
      )) {
        pages.push((page.Reservations ?? []).length);
      }

      // Assess: every tagged instance once, the untagged one left out (how fast is the bench's job).
      expect(pages).toEqual(Array.from({ length: 10 }, () => 1000));
    });
  });

  describe('throttling', () => {
    it('answers EC2 with RequestLimitExceeded 503, which the SDK retries until it succeeds', async () => {
      // Prepare
      fastBackoff();
      api.putInstance(fakeInstance(1));
      api.setFaults({ ec2ThrottleRate: 0.4, seed: 42 });
      const patient = new EC2Client({ endpoint: api.url, region: 'us-west-2', credentials, maxAttempts: 10 });

      // Act
      for (let k = 0; k < 20; k++) await patient.send(new DescribeInstancesCommand({}));
      const firstRun = api.stats().byAction.DescribeInstances!;
      api.resetStats();
      api.setFaults({ ec2ThrottleRate: 0.4, seed: 42 });
      for (let k = 0; k < 20; k++) await patient.send(new DescribeInstancesCommand({}));
      patient.destroy();

      // Assess
      expect(firstRun).toBeGreaterThan(20);
      expect(api.stats().byAction.DescribeInstances).toBe(firstRun); // same seed, same faults
    });

    it('fails an EC2 call with RequestLimitExceeded once maxAttempts are used up', async () => {
      // Prepare
      fastBackoff();
      api.setFaults({ ec2ThrottleRate: 1 });

      // Act
      const err = await failure(describeAll());

      // Assess
      expect(err.name).toBe('RequestLimitExceeded');
      expect(err.$metadata.httpStatusCode).toBe(503);
      expect(err.$metadata.attempts).toBe(3);
      expect(api.stats()).toEqual({ total: 3, byAction: { DescribeInstances: 3 } });
    });

    it('answers Auto Scaling with Throttling 400, retried by the SDK and failing after maxAttempts', async () => {
      // Prepare
      fastBackoff();
      api.setFaults({ autoScalingThrottleRate: 1 });

      // Act
      const err = await failure(autoScaling.send(new DescribeAutoScalingInstancesCommand({})));
      api.setFaults({ autoScalingThrottleRate: 0.5, seed: 3 });
      api.resetStats();
      const patient = new AutoScalingClient({
        endpoint: api.url,
        region: 'us-west-2',
        credentials,
        maxAttempts: 10,
      });
      for (let k = 0; k < 10; k++) await patient.send(new DescribeAutoScalingInstancesCommand({}));
      patient.destroy();

      // Assess
      expect(err.name).toBe('Throttling');
      expect(err.$metadata.httpStatusCode).toBe(400);
      expect(err.$metadata.attempts).toBe(3);
      expect(api.stats().byAction.DescribeAutoScalingInstances).toBeGreaterThan(10);
    });

    it('uses the real default retry settings when nothing is overridden', async () => {
      // Prepare
      fastBackoff();
      api.setFaults({ ec2ThrottleRate: 1 });
      const defaults = new EC2Client({ endpoint: api.url, region: 'us-west-2', credentials });

      // Act
      const err = await failure(defaults.send(new DescribeInstancesCommand({})));
      defaults.destroy();

      // Assess
      expect(err.name).toBe('RequestLimitExceeded');
      expect(err.$metadata.attempts).toBe(3); // the SDK's default maxAttempts
    });
  });

  describe('Auto Scaling lifecycle actions', () => {
    const action = {
      autoScalingGroupName: 'web-asg',
      lifecycleHookName: 'istio-register',
      instanceId: instanceIdFor(1),
      token: 'bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635',
    };

    it('completes a pending action by token and records its result', async () => {
      // Prepare
      api.addLifecycleAction(action);

      // Act
      const out = await autoScaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: 'web-asg',
          LifecycleHookName: 'istio-register',
          LifecycleActionToken: action.token,
          LifecycleActionResult: 'CONTINUE',
        }),
      );

      // Assess
      expect(out.$metadata.httpStatusCode).toBe(200);
      expect(api.completedLifecycleActions()).toEqual([
        { ...action, result: 'CONTINUE', by: 'call', at: expect.any(Number) },
      ]);
    });

    it('completes a pending action by instance id, hook and group', async () => {
      // Prepare
      api.addLifecycleAction(action);

      // Act
      await autoScaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: 'web-asg',
          LifecycleHookName: 'istio-register',
          InstanceId: instanceIdFor(1),
          LifecycleActionResult: 'ABANDON',
        }),
      );

      // Assess
      expect(api.completedLifecycleActions()).toEqual([
        { ...action, result: 'ABANDON', by: 'call', at: expect.any(Number) },
      ]);
    });

    it('rejects completing an action twice, or one that is not pending, with ValidationError', async () => {
      // Prepare
      api.addLifecycleAction(action);
      const complete = (input: { token?: string; instanceId?: string; group?: string }) =>
        autoScaling.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: input.group ?? 'web-asg',
            LifecycleHookName: 'istio-register',
            LifecycleActionToken: input.token,
            InstanceId: input.instanceId,
            LifecycleActionResult: 'CONTINUE',
          }),
        );
      await complete({ token: action.token });

      // Act
      const twice = await failure(complete({ token: action.token }));
      const byInstance = await failure(complete({ instanceId: instanceIdFor(1) }));
      api.addLifecycleAction({ ...action, token: 'other-token' });
      const wrongGroup = await failure(complete({ token: 'other-token', group: 'other-asg' }));

      // Assess
      expect(twice.name).toBe('ValidationError');
      expect(twice.Code).toBe('ValidationError');
      expect(twice.message).toBe(`No active Lifecycle Action found with token ${action.token}`);
      expect(twice.$metadata.httpStatusCode).toBe(400);
      expect(byInstance.message).toBe(
        `No active Lifecycle Action found with instance ID ${instanceIdFor(1)}`,
      );
      expect(wrongGroup.name).toBe('ValidationError');
      expect(api.completedLifecycleActions()).toHaveLength(1);
    });

    it('rejects a result other than CONTINUE or ABANDON with ValidationError', async () => {
      // Prepare
      api.addLifecycleAction(action);

      // Act
      const err = await failure(
        autoScaling.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: 'web-asg',
            LifecycleHookName: 'istio-register',
            LifecycleActionToken: action.token,
            LifecycleActionResult: 'MAYBE',
          }),
        ),
      );

      // Assess
      expect(err.name).toBe('ValidationError');
      expect(api.completedLifecycleActions()).toEqual([]);
    });

    it('records heartbeats for a pending action without completing it', async () => {
      // Prepare
      api.addLifecycleAction(action);

      // Act
      const ok = await autoScaling.send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: 'web-asg',
          LifecycleHookName: 'istio-register',
          LifecycleActionToken: action.token,
        }),
      );
      const unknown = await failure(
        autoScaling.send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: 'web-asg',
            LifecycleHookName: 'istio-register',
            InstanceId: instanceIdFor(2),
          }),
        ),
      );

      // Assess
      expect(ok.$metadata.httpStatusCode).toBe(200);
      expect(unknown.name).toBe('ValidationError');
      expect(unknown.message).toBe(`No active Lifecycle Action found with instance ID ${instanceIdFor(2)}`);
      expect(api.completedLifecycleActions()).toEqual([]);
      expect(api.stats().byAction.RecordLifecycleActionHeartbeat).toBe(2);
    });
  });

  describe('DescribeAutoScalingInstances', () => {
    it('returns grouped instances with a lifecycle state derived from the EC2 state', async () => {
      // Prepare
      api.putInstance(
        fakeInstance(1, { tags: { [ASG_TAG]: 'web-asg' }, state: 'running', instanceType: 'm7g.large' }),
      );
      api.putInstance(fakeInstance(2, { tags: { [ASG_TAG]: 'web-asg' }, state: 'pending' }));
      api.putInstance(fakeInstance(3, { tags: { [ASG_TAG]: 'api-asg' }, state: 'shutting-down' }));
      api.putInstance(fakeInstance(4, { tags: { [ASG_TAG]: 'api-asg' }, state: 'terminated' }));
      api.putInstance(fakeInstance(5, { tags: {} }));

      // Act
      const all = await autoScaling.send(new DescribeAutoScalingInstancesCommand({}));
      const some = await autoScaling.send(
        new DescribeAutoScalingInstancesCommand({
          InstanceIds: [instanceIdFor(1), instanceIdFor(5), 'i-0123456789abcdef0'],
        }),
      );

      // Assess
      expect(
        all.AutoScalingInstances?.map((i) => [
          i.InstanceId,
          i.AutoScalingGroupName,
          i.LifecycleState,
          i.HealthStatus,
        ]),
      ).toEqual([
        [instanceIdFor(1), 'web-asg', 'InService', 'HEALTHY'],
        [instanceIdFor(2), 'web-asg', 'Pending', 'HEALTHY'],
        [instanceIdFor(3), 'api-asg', 'Terminating', 'UNHEALTHY'],
      ]);
      expect(some.AutoScalingInstances).toEqual([
        {
          InstanceId: instanceIdFor(1),
          InstanceType: 'm7g.large',
          AutoScalingGroupName: 'web-asg',
          AvailabilityZone: 'us-west-2b',
          LifecycleState: 'InService',
          HealthStatus: 'HEALTHY',
          ProtectedFromScaleIn: false,
        },
      ]);
    });
  });

  describe('protocol plumbing', () => {
    it('answers an action it does not implement with InvalidAction in each protocol', async () => {
      // Act
      const fromEc2 = await failure(ec2.send(new DescribeVpcsCommand({})));
      const fromAutoScaling = await failure(autoScaling.send(new DescribeLaunchConfigurationsCommand({})));

      // Assess
      expect(fromEc2.name).toBe('InvalidAction');
      expect(fromEc2.$metadata.httpStatusCode).toBe(400);
      expect(fromAutoScaling.name).toBe('InvalidAction');
      expect(fromAutoScaling.$metadata.httpStatusCode).toBe(400);
      expect(api.stats().byAction).toEqual({ DescribeVpcs: 1, DescribeLaunchConfigurations: 1 });
    });

    it("describes groups from the instances' group tags, with warm pools apart, as the service does", async () => {
      // Prepare
      api.putInstance(fakeInstance(1, { tags: { [ASG_TAG]: 'web-asg' } }));
      api.putInstance(
        fakeInstance(2, { tags: { [ASG_TAG]: 'web-asg' }, autoScalingLifecycleState: 'Warmed:Running' }),
      );
      api.putInstance(
        fakeInstance(3, { tags: { [ASG_TAG]: 'web-asg' }, autoScalingLifecycleState: 'Terminating:Wait' }),
      );
      api.putInstance(fakeInstance(4, { tags: { [ASG_TAG]: 'api-asg' } }));

      // Act
      const groups = await autoScaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['web-asg'] }),
      );
      const warm = await autoScaling.send(new DescribeWarmPoolCommand({ AutoScalingGroupName: 'web-asg' }));

      // Assess
      const [web] = groups.AutoScalingGroups ?? [];
      expect(groups.AutoScalingGroups).toHaveLength(1);
      expect(web?.Instances?.map((i) => [i.InstanceId, i.LifecycleState])).toEqual([
        [fakeInstance(1).instanceId, 'InService'],
        [fakeInstance(3).instanceId, 'Terminating:Wait'],
      ]);
      expect(web?.WarmPoolConfiguration).toBeDefined();
      expect(warm.Instances?.map((i) => [i.InstanceId, i.LifecycleState])).toEqual([
        [fakeInstance(2).instanceId, 'Warmed:Running'],
      ]);
    });

    it('is reached by clients configured only through env()', async () => {
      // Prepare
      const env = api.env();
      expect(env).not.toHaveProperty('AWS_MAX_ATTEMPTS');
      expect(env.AWS_REGION).toBe('us-west-2');
      for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
      api.putInstance(fakeInstance(1, { tags: { [ASG_TAG]: 'web-asg' } }));
      const envEc2 = new EC2Client({});
      const envAutoScaling = new AutoScalingClient({});

      // Act
      const instances = await envEc2.send(new DescribeInstancesCommand({}));
      const grouped = await envAutoScaling.send(new DescribeAutoScalingInstancesCommand({}));
      envEc2.destroy();
      envAutoScaling.destroy();

      // Assess
      expect(instances.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instanceIdFor(1));
      expect(grouped.AutoScalingInstances?.[0]?.InstanceId).toBe(instanceIdFor(1));
      expect(api.stats()).toEqual({
        total: 2,
        byAction: { DescribeInstances: 1, DescribeAutoScalingInstances: 1 },
      });
    });

    it('counts requests per action, resets the counts, and applies latency', async () => {
      // Prepare
      await describeAll();
      await describeAll();
      expect(api.stats()).toEqual({ total: 2, byAction: { DescribeInstances: 2 } });
      api.resetStats();
      api.setLatency(60);

      // Act
      const started = performance.now();
      await describeAll();
      const elapsed = performance.now() - started;

      // Assess
      expect(elapsed).toBeGreaterThanOrEqual(55);
      expect(api.stats()).toEqual({ total: 1, byAction: { DescribeInstances: 1 } });
    });

    it('refuses to store an instance with a malformed id', () => {
      // Act + Assess
      expect(() => api.putInstance(fakeInstance(1, { instanceId: 'i-nothex!' }))).toThrow(
        /malformed instance id/,
      );
    });
  });

  describe('loadDescribeInstancesXml', () => {
    it('seeds the libcloud fixture and gives its values back through the SDK', async () => {
      // Prepare
      const xml = readFileSync(new URL('libcloud.describe_instances.xml', FIXTURES), 'utf8');

      // Act
      const loaded = api.loadDescribeInstancesXml(xml);
      const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-4382922a', 'i-8474834a'] }));

      // Assess
      expect(loaded.map((i) => i.instanceId)).toEqual(['i-4382922a', 'i-8474834a']);
      const byId = new Map(
        (out.Reservations ?? []).flatMap((r) =>
          (r.Instances ?? []).map((i) => [i.InstanceId, { r, i }] as const),
        ),
      );
      const classic = byId.get('i-4382922a')!;
      expect(classic.r.OwnerId).toBe('123456789098');
      expect(classic.i.PrivateIpAddress).toBe('10.211.11.211');
      expect(classic.i.Placement?.AvailabilityZone).toBe('us-east-1d');
      expect(classic.i.State).toEqual({ Code: 80, Name: 'stopped' });
      expect(classic.i.LaunchTime).toEqual(new Date('2013-12-02T11:58:11.000Z'));
      expect(classic.i.InstanceType).toBe('m1.small');
      expect(classic.i.ImageId).toBe('ami-3215fe5a');
      expect(classic.i.Tags ?? []).toEqual([]);
      expect(classic.i.VpcId).toBeUndefined();
      const vpc = byId.get('i-8474834a')!;
      // The fixture's top-level privateIpAddress (172.16.9.139) wins over its interface's 172.16.4.139.
      expect(vpc.i.PrivateIpAddress).toBe('172.16.9.139');
      expect(vpc.i.Placement?.AvailabilityZone).toBe('us-east-1d');
      expect(vpc.i.Tags).toEqual([
        { Key: 'Name', Value: 'Test Server 2' },
        { Key: 'Group', Value: 'VPC Test' },
      ]);
      expect(vpc.i.VpcId).toBe('vpc-61dcd30e');
      expect(vpc.i.SubnetId).toBe('subnet-5fd9d412');
      expect(vpc.i.LaunchTime).toEqual(new Date('2013-12-02T15:58:29.000Z'));
      expect(vpc.r.OwnerId).toBe('123456789098');
    });

    it('seeds the tagged libcloud fixture, replacing an instance with the same id', async () => {
      // Prepare
      api.loadDescribeInstancesXml(
        readFileSync(new URL('libcloud.describe_instances.xml', FIXTURES), 'utf8'),
      );
      const xml = readFileSync(new URL('libcloud.describe_instances_with_tags.xml', FIXTURES), 'utf8');

      // Act
      const loaded = api.loadDescribeInstancesXml(xml);
      const instances = await describeAll({ Filters: [{ Name: 'tag:Name', Values: ['foobar1'] }] });

      // Assess
      expect(loaded).toEqual([
        {
          instanceId: 'i-8474834a',
          state: 'pending',
          privateIpAddress: '1.2.3.5',
          availabilityZone: 'us-west-1a',
          tags: { Name: 'foobar1', user_key1: 'user_val1', user_key2: 'user_val2' },
          launchTime: '2009-08-07T05:47:04.000Z',
          ownerId: '822272953071',
          instanceType: 'm1.micro',
          imageId: 'ami-0f234b234',
        },
      ]);
      expect(instances).toHaveLength(1);
      const instance = instances[0]!;
      expect(instance.State).toEqual({ Code: 0, Name: 'pending' });
      expect(instance.PrivateIpAddress).toBe('1.2.3.5');
      expect(instance.Placement?.AvailabilityZone).toBe('us-west-1a');
      expect(instance.Tags).toEqual([
        { Key: 'Name', Value: 'foobar1' },
        { Key: 'user_key1', Value: 'user_val1' },
        { Key: 'user_key2', Value: 'user_val2' },
      ]);
      expect(api.instances().map((i) => i.instanceId)).toEqual(['i-4382922a', 'i-8474834a']);
    });
  });
});
