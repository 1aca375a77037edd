import {
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  paginateDescribeInstances,
} from '@aws-sdk/client-ec2';
import {
  INSTANCE_ID_PATTERN,
  INSTANCE_STATES,
  type InstanceFacts,
  type InstanceState,
} from '../domain/types.ts';
import { Deadline } from './deadline.ts';
import { AdapterError, Ec2Error } from './errors.ts';

/** At most this many ids per DescribeInstances call. */
const IDS_PER_CALL = 200;
const PAGE_SIZE = 1000;

function toFacts(
  instance: Instance,
  region: string,
  ownerId: string | undefined,
  account: string | undefined,
): InstanceFacts | undefined {
  const state = instance.State?.Name as InstanceState | undefined;
  if (!instance.InstanceId || !state || !INSTANCE_STATES.includes(state)) return undefined;
  const tags: Record<string, string> = {};
  for (const tag of instance.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  return {
    instanceId: instance.InstanceId,
    state,
    region,
    tags,
    ...(instance.PrivateIpAddress ? { privateIpAddress: instance.PrivateIpAddress } : {}),
    ...(instance.Placement?.AvailabilityZone
      ? { availabilityZone: instance.Placement.AvailabilityZone }
      : {}),
    ...(instance.LaunchTime ? { launchTime: instance.LaunchTime.toISOString() } : {}),
    // The owner as EC2 reports it; the account whose EC2 answered when it does not say.
    ...((ownerId ?? account) ? { ownerId: (ownerId ?? account) as string } : {}),
    ...(account ? { account } : {}),
    ...(instance.VpcId ? { vpcId: instance.VpcId } : {}),
    ...(instance.InstanceLifecycle ? { instanceLifecycle: instance.InstanceLifecycle } : {}),
  };
}

function ec2Error(error: unknown, what: string): AdapterError {
  // Already classified (the member role of a spoke could not be assumed): keep its message and class.
  if (error instanceof AdapterError) return error;
  const e = error as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = e.$metadata?.httpStatusCode;
  const retriable =
    status === undefined || status >= 500 || status === 429 || /Throttl|LimitExceeded/.test(e.name ?? '');
  return new Ec2Error(`EC2 ${what} failed: ${e.name ?? 'Error'}: ${e.message ?? String(error)}`, {
    retriable,
    ...(status !== undefined ? { status } : {}),
    cause: error,
  });
}

/** Ids named in an InvalidInstanceID.NotFound message: "The instance IDs 'i-1, i-2' do not exist". */
export function idsInNotFoundMessage(message: string): string[] {
  return message.match(/i-[0-9a-f]{8,17}/g) ?? [];
}

/** Reads instances from EC2. Holds no decisions: it reports what EC2 says. */
export class Ec2Instances {
  readonly #client: EC2Client;
  readonly #region: string;
  readonly #deadline: Deadline;
  readonly #account: string | undefined;

  /** `account`: the account the client's credentials act in, when known (recorded on the facts). */
  constructor(client: EC2Client, region: string, deadline: Deadline = Deadline.none(), account?: string) {
    this.#client = client;
    this.#region = region;
    this.#deadline = deadline;
    this.#account = account;
  }

  /** The same client, every call cancelled when the invocation's deadline passes. */
  withDeadline(deadline: Deadline): Ec2Instances {
    return new Ec2Instances(this.#client, this.#region, deadline, this.#account);
  }

  /**
   * Describes the given instances, batched. Instances EC2 does not know (never existed, or gone
   * for long enough) are absent from the result; malformed ids are dropped.
   */
  async describe(instanceIds: readonly string[]): Promise<Map<string, InstanceFacts>> {
    const found = new Map<string, InstanceFacts>();
    const ids = [...new Set(instanceIds)].filter((id) => INSTANCE_ID_PATTERN.test(id));
    for (let i = 0; i < ids.length; i += IDS_PER_CALL) {
      await this.#describeChunk(ids.slice(i, i + IDS_PER_CALL), found);
    }
    return found;
  }

  async #describeChunk(ids: string[], found: Map<string, InstanceFacts>): Promise<void> {
    let remaining = ids;
    // EC2 fails the whole call when one id is unknown; drop the ids it names and ask again.
    for (let attempt = 0; remaining.length > 0 && attempt <= ids.length; attempt++) {
      try {
        const out = await this.#client.send(new DescribeInstancesCommand({ InstanceIds: remaining }), {
          abortSignal: this.#deadline.signal,
        });
        for (const reservation of out.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            const facts = toFacts(instance, this.#region, reservation.OwnerId, this.#account);
            if (facts) found.set(facts.instanceId, facts);
          }
        }
        return;
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name === 'InvalidInstanceID.NotFound' || name === 'InvalidInstanceID.Malformed') {
          const missing = new Set(idsInNotFoundMessage((error as Error).message));
          const next = remaining.filter((id) => !missing.has(id));
          // If the message named none of ours, describe one by one rather than loop.
          if (next.length === remaining.length) {
            if (remaining.length === 1) return;
            for (const id of remaining) await this.#describeChunk([id], found);
            return;
          }
          remaining = next;
          continue;
        }
        throw ec2Error(error, 'DescribeInstances');
      }
    }
  }

  /**
   * Every instance carrying `tagKey`, in any state but terminated-and-gone, one page at a time.
   * Throws on any failure: a caller must never mistake a partial listing for the whole fleet.
   */
  async *listTagged(tagKey: string): AsyncGenerator<InstanceFacts[]> {
    try {
      const pages = paginateDescribeInstances(
        { client: this.#client, pageSize: PAGE_SIZE },
        {
          Filters: [
            { Name: 'tag-key', Values: [tagKey] },
            // Every state on purpose: terminated and stopped instances are the evidence that lets
            // the reconciler delete their entries without tripping its deletion cap.
            { Name: 'instance-state-name', Values: [...INSTANCE_STATES] },
          ],
        },
        { abortSignal: this.#deadline.signal },
      );
      for await (const page of pages) {
        const facts: InstanceFacts[] = [];
        for (const reservation of page.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            const f = toFacts(instance, this.#region, reservation.OwnerId, this.#account);
            if (f) facts.push(f);
          }
        }
        yield facts;
      }
    } catch (error) {
      throw ec2Error(error, 'DescribeInstances (listing)');
    }
  }
}
