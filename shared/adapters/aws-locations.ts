import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import {
  createIsIdentityExpiredFunction,
  doesIdentityRequireRefresh,
  memoizeIdentityProvider,
} from '@smithy/core';
import { type Fleet, isHome, type Location, locationKey, partitionOf } from '../domain/locations.ts';
import { AutoScalingInstances, LifecycleActions } from './autoscaling.ts';
import { Deadline } from './deadline.ts';
import { Ec2Instances } from './ec2.ts';
import { MemberAccessError } from './errors.ts';

type CredentialProvider = ReturnType<typeof fromTemporaryCredentials>;
type Credentials = Awaited<ReturnType<CredentialProvider>>;

/** The SDK clients of one location. */
export interface LocationClients {
  readonly location: Location;
  readonly ec2: EC2Client;
  readonly autoscaling: AutoScalingClient;
}

/** The adapters of one location, bound to one invocation's deadline. */
export interface LocationAws {
  readonly location: Location;
  readonly ec2: Ec2Instances;
  readonly autoscaling: AutoScalingInstances;
  readonly lifecycle: LifecycleActions;
}

export interface FleetAwsOptions {
  readonly fleet: Fleet;
  /** The role assumed in spoke accounts; required when the fleet has spokes. */
  readonly memberRole?: { readonly name: string; readonly externalId: string };
  /** Per-attempt bounds of every client (and of STS). */
  readonly requestHandler?: { readonly connectionTimeout?: number; readonly requestTimeout?: number };
  /** Wraps every client made (X-Ray: `tracer.captureAWSv3Client`). */
  readonly instrument?: <C extends EC2Client | AutoScalingClient>(client: C) => C;
  /** RoleSessionName of the member-role sessions (shown in the spoke's CloudTrail). */
  readonly sessionName?: string;
  /** @default 3600 (the member role's maximum session) */
  readonly sessionDurationSeconds?: number;
  /** Assumed-role credentials are renewed this long before they expire. @default 5 minutes */
  readonly refreshBeforeExpiryMs?: number;
}

const DEFAULT_REFRESH_MS = 5 * 60_000;

/**
 * Every AWS call about an instance is made in the instance's own account and region: the fleet's
 * home with the process's own credentials, every other location through the member role of its
 * account (`sts:AssumeRole` with the ExternalId, `@aws-sdk/credential-providers`
 * fromTemporaryCredentials). The clients of a location are made on first use and kept for the life
 * of the process, so one session per account serves every invocation until shortly before it
 * expires: both clients of an account share one memoized credential provider.
 *
 * Per invocation, {@link withDeadline} gives the same clients with every call bound to its deadline.
 */
export class FleetAws {
  readonly fleet: Fleet;
  readonly #options: FleetAwsOptions;
  readonly #clients: Map<string, LocationClients>;
  readonly #credentials: Map<string, CredentialProvider>;
  readonly #deadline: Deadline;
  readonly #adapters = new Map<string, LocationAws>();

  constructor(
    options: FleetAwsOptions,
    deadline: Deadline = Deadline.none(),
    shared?: { clients: Map<string, LocationClients>; credentials: Map<string, CredentialProvider> },
  ) {
    if (options.fleet.spokes.length > 0 && !options.memberRole) {
      throw new Error('FleetAws: spokes are configured but no member role');
    }
    this.fleet = options.fleet;
    this.#options = options;
    this.#clients = shared?.clients ?? new Map();
    this.#credentials = shared?.credentials ?? new Map();
    this.#deadline = deadline;
  }

  /** The same clients, every call cancelled when the invocation's deadline passes. */
  withDeadline(deadline: Deadline): FleetAws {
    return new FleetAws(this.#options, deadline, { clients: this.#clients, credentials: this.#credentials });
  }

  /** The fleet's own account and region. */
  get home(): LocationAws {
    return this.at(this.fleet.home);
  }

  /** Every location the fleet serves: home first, then the spokes in configuration order. */
  get locations(): Location[] {
    return [this.fleet.home, ...this.fleet.spokes];
  }

  /** The adapters of a location (home, or a configured spoke). */
  at(location: Location): LocationAws {
    const key = locationKey(isHome(location, this.fleet) ? this.fleet.home : location);
    let adapters = this.#adapters.get(key);
    if (!adapters) {
      const clients = this.clients(location);
      adapters = {
        location: clients.location,
        ec2: new Ec2Instances(clients.ec2, clients.location.region, this.#deadline, clients.location.account),
        autoscaling: new AutoScalingInstances(clients.autoscaling, this.#deadline),
        lifecycle: new LifecycleActions(clients.autoscaling, this.#deadline),
      };
      this.#adapters.set(key, adapters);
    }
    return adapters;
  }

  /** The SDK clients of a location, made on first use and kept. */
  clients(location: Location): LocationClients {
    const home = isHome(location, this.fleet);
    const at = home ? this.fleet.home : location;
    const key = locationKey(at);
    let clients = this.#clients.get(key);
    if (!clients) {
      if (!home && !this.fleet.spokes.some((s) => s.account === at.account && s.region === at.region)) {
        throw new Error(`FleetAws: ${key} is not a configured location`);
      }
      const credentials = home ? undefined : this.#memberCredentials(at.account as string);
      const config = {
        region: at.region,
        ...(this.#options.requestHandler ? { requestHandler: { ...this.#options.requestHandler } } : {}),
        ...(credentials ? { credentials } : {}),
      };
      const instrument = this.#options.instrument ?? (<C>(client: C) => client);
      clients = {
        location: at,
        ec2: instrument(new EC2Client(config)),
        autoscaling: instrument(new AutoScalingClient(config)),
      };
      this.#clients.set(key, clients);
    }
    return clients;
  }

  /** ARN of the member role in `account`, in the home region's partition. */
  memberRoleArn(account: string): string {
    return `arn:${partitionOf(this.fleet.home.region)}:iam::${account}:role/${this.#options.memberRole?.name}`;
  }

  /**
   * One provider per account (its clients in every region share the session), memoized until
   * `refreshBeforeExpiryMs` before expiry. A failed AssumeRole is not remembered: the next call tries
   * again. Its error names the role, the location and what to check.
   */
  #memberCredentials(account: string): CredentialProvider {
    let provider = this.#credentials.get(account);
    if (provider) return provider;
    const role = this.#options.memberRole!;
    const roleArn = this.memberRoleArn(account);
    const assume = fromTemporaryCredentials({
      params: {
        RoleArn: roleArn,
        RoleSessionName: this.#options.sessionName ?? 'istio-vm-registrar',
        ExternalId: role.externalId,
        DurationSeconds: this.#options.sessionDurationSeconds ?? 3600,
      },
      clientConfig: {
        region: this.fleet.home.region,
        ...(this.#options.requestHandler ? { requestHandler: { ...this.#options.requestHandler } } : {}),
      },
    });
    const guarded = async (properties?: Parameters<CredentialProvider>[0]): Promise<Credentials> => {
      try {
        return await assume(properties);
      } catch (error) {
        const e = error as { name?: string; message?: string };
        throw new MemberAccessError(
          `cannot assume ${roleArn} for account ${account}: ${e.name ?? 'Error'}: ${e.message ?? String(error)} ` +
            '(check the spoke stack in that account: its RegistrarRoleArns must name this function’s role and its ExternalId must equal MEMBER_EXTERNAL_ID)',
          { account, roleArn, cause: error },
        );
      }
    };
    provider = memoizeIdentityProvider(
      guarded,
      createIsIdentityExpiredFunction(this.#options.refreshBeforeExpiryMs ?? DEFAULT_REFRESH_MS),
      doesIdentityRequireRefresh,
    ) as CredentialProvider;
    this.#credentials.set(account, provider);
    return provider;
  }
}
