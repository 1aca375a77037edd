import { ACCOUNT_ANNOTATION } from '../constants.ts';
import type { InstanceHint } from './events.ts';
import type { InstanceFacts, WorkloadEntryObject } from './types.ts';

/**
 * Where an instance lives, and so where every AWS call about it is made: its account and region.
 * One registrar serves its own account and region ("home", its own credentials) and any number of
 * spokes (other account/region pairs, each through the member role of its account). Pure: no I/O.
 *
 * | the event says (account / region)                      | the instance is read in                          |
 * |--------------------------------------------------------|--------------------------------------------------|
 * | anything, and no spoke is configured                   | home (single-account mode, whatever it claims)   |
 * | nothing (a lifecycle notification sent straight to SQS) | home                                             |
 * | only an account (those notifications carry AccountId)  | that account in the home region                  |
 * | the home account and region                            | home                                             |
 * | a configured spoke pair (SPOKE_ACCOUNT_REGIONS)         | that pair, through its account's member role     |
 * | any other pair                                         | nowhere: dropped, logged, counted                |
 *
 * | an entry's location (for deletions)                     | from                                             |
 * |--------------------------------------------------------|--------------------------------------------------|
 * | account                                                | its `account-id` annotation (EC2's OwnerId); else the home account |
 * | region                                                 | the region of its `locality` (`<region>/<zone>`); else the home region |
 *
 * An instance is only ever deregistered on the word of its own location: an event (forged or
 * misrouted) that names another account makes that account's EC2 answer "not found", and must not
 * delete an entry registered from elsewhere. Instance ids are unique within a partition, and every
 * location of one registrar is in the home region's partition (checked at start-up), so an entry name
 * `<group>-<instance-id>` never collides.
 */

/** An account and region. `account` is undefined only for home in single-account mode without HOME_ACCOUNT_ID. */
export interface Location {
  readonly account?: string;
  readonly region: string;
}

/** The locations one registrar serves. */
export interface Fleet {
  readonly home: Location;
  /** Every other account/region pair, in configuration order; empty in single-account mode. */
  readonly spokes: readonly Required<Location>[];
}

export type Located =
  | { readonly kind: 'home'; readonly location: Location }
  | { readonly kind: 'spoke'; readonly location: Required<Location> }
  | { readonly kind: 'unknown'; readonly location: Location; readonly reason: string };

/** `account:region`, the key of a location in logs, metrics and maps (`?:region` for an unknown account). */
export function locationKey(location: Location): string {
  return `${location.account ?? '?'}:${location.region}`;
}

export function isHome(location: Location, fleet: Fleet): boolean {
  return (
    location.region === fleet.home.region &&
    (location.account === undefined ||
      fleet.home.account === undefined ||
      location.account === fleet.home.account)
  );
}

/** Where the instance an event names must be read (see the table above). */
export function locateHint(hint: Pick<InstanceHint, 'account' | 'region'>, fleet: Fleet): Located {
  if (fleet.spokes.length === 0) return { kind: 'home', location: fleet.home };
  const claimed: Location = {
    region: hint.region ?? fleet.home.region,
    ...((hint.account ?? fleet.home.account) !== undefined
      ? { account: (hint.account ?? fleet.home.account) as string }
      : {}),
  };
  if (isHome(claimed, fleet)) return { kind: 'home', location: fleet.home };
  const spoke = fleet.spokes.find((s) => s.account === claimed.account && s.region === claimed.region);
  if (spoke) return { kind: 'spoke', location: spoke };
  return {
    kind: 'unknown',
    location: claimed,
    reason: `event from ${locationKey(claimed)}, which is neither the registrar's own account/region nor a configured spoke (SPOKE_ACCOUNT_REGIONS)`,
  };
}

/** Where an entry's instance was registered from (see the table above). */
export function entryLocation(entry: WorkloadEntryObject, fleet: Fleet): Location {
  const account = entry.metadata.annotations?.[ACCOUNT_ANNOTATION] ?? fleet.home.account;
  const region = entry.spec.locality?.split('/')[0] || fleet.home.region;
  return { region, ...(account !== undefined ? { account } : {}) };
}

/** Whether two locations are the same (an unknown home account matches any account). */
export function sameLocation(a: Location, b: Location): boolean {
  return (
    a.region === b.region && (a.account === undefined || b.account === undefined || a.account === b.account)
  );
}

/**
 * AWS partition of a region. Instance ids are unique only within one; roles cannot be assumed
 * across them. https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html
 */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('eu-isoe-')) return 'aws-iso-e';
  if (region.startsWith('us-isof-')) return 'aws-iso-f';
  return 'aws';
}

const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const VPC = /^vpc-[0-9a-f]{8,17}$/;
/** Istio network names end up in the `topology.istio.io/network` label: same rules as a label value. */
const NETWORK = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/**
 * Parses `account:region` pairs (comma-separated), e.g. `111122223333:eu-west-1`. Every problem is
 * reported, including a pair in another partition than `homeRegion` (one registrar per partition).
 */
export function parseSpokes(
  text: string,
  homeRegion: string,
): { spokes: Required<Location>[]; problems: string[] } {
  const spokes: Required<Location>[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [account, region, ...rest] = item.split(':');
    if (rest.length > 0 || !account || !region || !ACCOUNT.test(account) || !REGION.test(region)) {
      problems.push(`"${item}" is not <12-digit account>:<region>`);
      continue;
    }
    if (partitionOf(region) !== partitionOf(homeRegion)) {
      problems.push(
        `"${item}" is in partition ${partitionOf(region)}, the registrar's region ${homeRegion} in ${partitionOf(homeRegion)}: instance ids are unique only within a partition and roles cannot be assumed across partitions; deploy one registrar per partition`,
      );
      continue;
    }
    if (seen.has(item)) {
      problems.push(`"${item}" is listed twice`);
      continue;
    }
    seen.add(item);
    spokes.push({ account, region });
  }
  return { spokes, problems };
}

/** Mesh network by account, or by account and VPC. */
export interface NetworkMap {
  readonly byAccount: ReadonlyMap<string, string>;
  /** Keyed `account:vpc-id`. */
  readonly byVpc: ReadonlyMap<string, string>;
}

/**
 * Parses `account[:vpc-id]=network` pairs (comma-separated), e.g.
 * `111122223333=vm-net-a,111122223333:vpc-0a1b2c3d=vm-net-b`.
 */
export function parseNetworkMap(text: string): { map: NetworkMap; problems: string[] } {
  const byAccount = new Map<string, string>();
  const byVpc = new Map<string, string>();
  const problems: string[] = [];
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq).trim() : '';
    const network = eq > 0 ? item.slice(eq + 1).trim() : '';
    const [account, vpc, ...rest] = key.split(':');
    if (
      !account ||
      !ACCOUNT.test(account) ||
      rest.length > 0 ||
      (vpc !== undefined && !VPC.test(vpc)) ||
      network.length > 63 ||
      !NETWORK.test(network)
    ) {
      problems.push(`"${item}" is not <12-digit account>[:<vpc-id>]=<network name>`);
      continue;
    }
    const target = vpc === undefined ? byAccount : byVpc;
    const mapKey = vpc === undefined ? account : `${account}:${vpc}`;
    if (target.has(mapKey)) {
      problems.push(`"${mapKey}" is mapped twice`);
      continue;
    }
    target.set(mapKey, network);
  }
  return { map: { byAccount, byVpc }, problems };
}

/**
 * The network configuration gives an instance: by its account (EC2's OwnerId) and VPC first, then by
 * account alone. The instance's own network tag wins over both (see decide.ts); both win over the
 * group template's `network`.
 */
export function mappedNetwork(
  facts: Pick<InstanceFacts, 'ownerId' | 'vpcId'>,
  map: NetworkMap | undefined,
): string | undefined {
  if (!map || !facts.ownerId) return undefined;
  return (
    (facts.vpcId ? map.byVpc.get(`${facts.ownerId}:${facts.vpcId}`) : undefined) ??
    map.byAccount.get(facts.ownerId)
  );
}
