/** The six EC2 instance states. https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html */
export const INSTANCE_STATES = [
  'pending',
  'running',
  'shutting-down',
  'terminated',
  'stopping',
  'stopped',
] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

/** EC2 instance ids: `i-` and 8 or 17 lowercase hex digits. */
export const INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** What EC2 says about one instance right now: the only truth the registrar acts on. */
export interface InstanceFacts {
  readonly instanceId: string;
  readonly state: InstanceState;
  /** Primary private IPv4 address; absent for terminated instances. */
  readonly privateIpAddress?: string;
  readonly availabilityZone?: string;
  /** Region of the EC2 endpoint that described the instance. */
  readonly region: string;
  readonly tags: Readonly<Record<string, string>>;
  /** ISO-8601 launch time. */
  readonly launchTime?: string;
  /** Account that owns the instance (reservation owner). */
  readonly ownerId?: string;
  /**
   * Account whose EC2 API described the instance (the credentials used: the registrar's own, or a
   * spoke's member role); absent in single-account mode without HOME_ACCOUNT_ID.
   */
  readonly account?: string;
  /** VPC of the instance (absent once it has terminated): the network mapping's key. */
  readonly vpcId?: string;
  /**
   * Auto Scaling lifecycle state (`InService`, `Warmed:Running`, `Terminating:Wait`, `Standby`...),
   * for instances in an Auto Scaling group; EC2's state alone cannot tell a warm-pool instance.
   */
  readonly autoScalingLifecycleState?: string;
  /**
   * Set when the instance belongs to an Auto Scaling group but its lifecycle state could not be read
   * (throttling, an outage): decisions that need it wait; those that do not go ahead.
   */
  readonly autoScalingStateUnknown?: true;
  /** EC2's `InstanceLifecycle` (`spot`, `scheduled`, `capacity-block`); absent for on-demand. */
  readonly instanceLifecycle?: string;
}

/** A WorkloadGroup as the registrar needs it. */
export interface WorkloadGroupView {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly apiVersion: string;
  /** The group object's own annotations (policy such as allowed sources lives here). */
  readonly annotations: Readonly<Record<string, string>>;
  /** `spec.metadata`: labels and annotations stamped on every entry. */
  readonly entryMetadata: {
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  /** `spec.template`: the WorkloadEntry template. */
  readonly template: WorkloadEntrySpec;
  /** `spec.probe`: the readiness probe of the group's VMs (run by the `probe` launch gate). */
  readonly probe?: WorkloadGroupProbe;
}

/** `spec.probe` of a networking.istio.io/v1 WorkloadGroup, as stored (every field optional). */
export interface WorkloadGroupProbe {
  readonly httpGet?: {
    readonly path?: string;
    readonly port?: number;
    readonly host?: string;
    readonly scheme?: string;
    readonly httpHeaders?: ReadonlyArray<{ readonly name?: string; readonly value?: string }>;
  };
  readonly tcpSocket?: { readonly port?: number; readonly host?: string };
  readonly exec?: unknown;
  readonly grpc?: unknown;
  readonly initialDelaySeconds?: number;
  readonly periodSeconds?: number;
  readonly timeoutSeconds?: number;
  readonly successThreshold?: number;
  readonly failureThreshold?: number;
}

/** One entry of a WorkloadEntry's `status.conditions` (istiod writes `Healthy`). */
export interface EntryCondition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastProbeTime?: string;
  readonly lastTransitionTime?: string;
}

/** `spec` of a networking.istio.io/v1 WorkloadEntry. */
export interface WorkloadEntrySpec {
  address?: string;
  labels?: Record<string, string>;
  locality?: string;
  network?: string;
  ports?: Record<string, number>;
  serviceAccount?: string;
  weight?: number;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A WorkloadEntry object (desired or live). */
export interface WorkloadEntryObject {
  apiVersion: string;
  kind: 'WorkloadEntry';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    uid?: string;
    resourceVersion?: string;
  };
  spec: WorkloadEntrySpec;
  /** Written by istiod only (status subresource): a `Healthy` condition when the group has a readiness probe; never part of what the registrar applies. */
  status?: { conditions?: EntryCondition[] };
}

/** Reference to a WorkloadGroup, as named by the instance tag `<namespace>/<name>`. */
export interface GroupRef {
  readonly namespace: string;
  readonly name: string;
}

export const groupKey = (ref: GroupRef): string => `${ref.namespace}/${ref.name}`;
