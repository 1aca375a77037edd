import { describe, expect, it } from 'vitest';
import { decideInstance, type LifecyclePolicy } from '../../../shared/domain/decide.ts';
import {
  entryLocation,
  type Fleet,
  locateHint,
  mappedNetwork,
  parseNetworkMap,
  parseSpokes,
  partitionOf,
  sameLocation,
} from '../../../shared/domain/locations.ts';
import type { WorkloadEntryObject } from '../../../shared/domain/types.ts';
import { renderWorkloadEntry } from '../../../shared/domain/workload-entry.ts';
import { facts, group } from '../../helpers/domain.ts';

const HOME = { account: '111111111111', region: 'us-west-2' };
const SPOKE = { account: '222222222222', region: 'eu-west-1' };
const multi: Fleet = { home: HOME, spokes: [SPOKE, { account: HOME.account, region: 'us-east-1' }] };
const single: Fleet = { home: { region: 'us-west-2' }, spokes: [] };

describe('Function: locateHint()', () => {
  it.each([
    ['single-account mode: any claim', single, { account: '999999999999', region: 'ap-south-1' }, 'home'],
    ['no account, no region (a notification sent straight to SQS)', multi, {}, 'home'],
    ['the home account and region', multi, HOME, 'home'],
    ['a configured spoke', multi, SPOKE, 'spoke'],
    [
      'the home account in another configured region',
      multi,
      { account: HOME.account, region: 'us-east-1' },
      'spoke',
    ],
    [
      'an account only (AccountId of a notification): that account in the home region',
      multi,
      { account: SPOKE.account },
      'unknown',
    ],
    [
      'a spoke account in a region not configured',
      multi,
      { account: SPOKE.account, region: 'us-west-2' },
      'unknown',
    ],
    ['an account not configured', multi, { account: '999999999999', region: 'eu-west-1' }, 'unknown'],
  ] as const)('%s -> %s', (_what, fleet, claim, kind) => {
    expect(locateHint(claim, fleet).kind).toBe(kind);
  });

  it('says which location an unknown event claimed and where to configure it', () => {
    const located = locateHint({ account: '999999999999', region: 'eu-west-1' }, multi);
    expect(located).toEqual({
      kind: 'unknown',
      location: { account: '999999999999', region: 'eu-west-1' },
      reason: expect.stringContaining('999999999999:eu-west-1') as unknown as string,
    });
    expect((located as { reason: string }).reason).toContain('SPOKE_ACCOUNT_REGIONS');
  });
});

describe('Function: entryLocation()', () => {
  const entry = (annotations: Record<string, string>, locality?: string): WorkloadEntryObject => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: { name: 'reviews-i-1', namespace: 'bookinfo', annotations },
    spec: { address: '10.0.0.1', ...(locality ? { locality } : {}) },
  });

  it('is the account annotation and the region of the locality', () => {
    expect(
      entryLocation(
        entry({ 'istio-vm-registrar.io/account-id': SPOKE.account }, 'eu-west-1/eu-west-1a'),
        multi,
      ),
    ).toEqual(SPOKE);
  });

  it('falls back to the home account and region', () => {
    expect(entryLocation(entry({}), multi)).toEqual(HOME);
  });

  it('matches by location; an unknown account matches any', () => {
    expect(sameLocation(SPOKE, HOME)).toBe(false);
    expect(sameLocation(SPOKE, { region: 'eu-west-1' })).toBe(true);
    expect(sameLocation(SPOKE, { ...SPOKE, region: 'us-east-1' })).toBe(false);
  });
});

describe('Function: parseSpokes() / partitionOf()', () => {
  it('knows the partitions', () => {
    expect(['us-east-1', 'cn-north-1', 'us-gov-west-1', 'eu-west-3'].map(partitionOf)).toEqual([
      'aws',
      'aws-cn',
      'aws-us-gov',
      'aws',
    ]);
  });

  it('refuses a spoke in another partition than the registrar, saying why', () => {
    const { spokes, problems } = parseSpokes(
      '222222222222:cn-northwest-1,222222222222:eu-west-1',
      'us-east-1',
    );
    expect(spokes).toEqual([SPOKE]);
    expect(problems).toEqual([expect.stringContaining('instance ids are unique only within a partition')]);
  });
});

describe('Network map', () => {
  const { map } = parseNetworkMap(`${SPOKE.account}=net-a,${SPOKE.account}:vpc-0b1b2c3d=net-b`);
  const policy: LifecyclePolicy = {
    tagPrefix: 'istio-vm/',
    allowedNamespaces: ['bookinfo'],
    stoppedInstancePolicy: 'delete',
    networkMap: map,
  };

  it('maps by account and VPC first, then by account', () => {
    expect(mappedNetwork({ ownerId: SPOKE.account, vpcId: 'vpc-0b1b2c3d' }, map)).toBe('net-b');
    expect(mappedNetwork({ ownerId: SPOKE.account, vpcId: 'vpc-0c1b2c3d' }, map)).toBe('net-a');
    expect(mappedNetwork({ ownerId: HOME.account, vpcId: 'vpc-0b1b2c3d' }, map)).toBeUndefined();
  });

  it('gives the network to instances without a network tag; the tag still wins', () => {
    const mapped = decideInstance(
      facts({ ownerId: SPOKE.account, vpcId: 'vpc-0b1b2c3d' }),
      undefined,
      policy,
    );
    expect(mapped).toMatchObject({ kind: 'register', network: 'net-b' });
    const tagged = decideInstance(
      facts({
        ownerId: SPOKE.account,
        vpcId: 'vpc-0b1b2c3d',
        tags: { 'istio-vm/workload-group': 'bookinfo/reviews', 'istio-vm/network': 'from-tag' },
      }),
      undefined,
      policy,
    );
    expect(tagged).toMatchObject({ kind: 'register', network: 'from-tag' });
  });

  it('wins over the group template network', () => {
    const intent = decideInstance(facts({ ownerId: SPOKE.account }), undefined, policy);
    const rendered = renderWorkloadEntry(
      facts({ ownerId: SPOKE.account }),
      group({ template: { ports: { http: 9080 }, network: 'template-net' } }),
      intent.kind === 'register' && intent.network ? { network: intent.network } : {},
    );
    expect(rendered.ok && rendered.entry.spec.network).toBe('net-a');
    const unmapped = renderWorkloadEntry(facts(), group({ template: { network: 'template-net' } }));
    expect(unmapped.ok && unmapped.entry.spec.network).toBe('template-net');
  });

  it('rejects malformed pairs and a key mapped twice', () => {
    const { problems } = parseNetworkMap(
      '111111111111=a,111111111111=b,1=x,111111111111:vpc-zz=y,111111111111=',
    );
    expect(problems).toHaveLength(4);
    expect(problems[0]).toContain('"111111111111" is mapped twice');
  });
});
