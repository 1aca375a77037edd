export type InstanceStateName =
  | 'pending'
  | 'running'
  | 'shutting-down'
  | 'terminated'
  | 'stopping'
  | 'stopped';

export interface FakeInstance {
  instanceId: string;
  state: InstanceStateName;
  privateIpAddress?: string;
  availabilityZone: string;
  tags: Record<string, string>;
  /** ISO 8601 */
  launchTime: string;
  /** default 123456789012 */
  ownerId?: string;
  subnetId?: string;
  vpcId?: string;
  instanceType?: string;
  imageId?: string;
  instanceLifecycle?: 'spot';
  /**
   * Auto Scaling lifecycle state to report (e.g. `Warmed:Running`, `Terminating:Wait`, `Standby`);
   * by default it is derived from the EC2 state.
   */
  autoScalingLifecycleState?: string;
}

export interface AwsFaultPlan {
  /** 0..1: share of EC2 requests answered with RequestLimitExceeded, HTTP 503 */
  ec2ThrottleRate?: number;
  /** 0..1: share of Auto Scaling requests answered with Throttling, HTTP 400 */
  autoScalingThrottleRate?: number;
  /**
   * 0..1: share of Auto Scaling requests that fail on the server's side: InternalFailure (HTTP 500)
   * or ServiceUnavailable (503), half each. The SDK retries both as transient errors.
   */
  autoScalingErrorRate?: number;
  /**
   * Listings (DescribeInstances without InstanceId.N) serve this many pages, then every request
   * for a later page fails with InternalError, HTTP 500, retries included: a listing that breaks
   * mid-way. 0 fails the first page.
   */
  failDescribeAfterPages?: number;
  /**
   * Auto Scaling requests that name one of these groups (`AutoScalingGroupName`,
   * `AutoScalingGroupNames.member.N`) fail with InternalFailure, HTTP 500, retries included.
   */
  failAutoScalingGroups?: readonly string[];
  /**
   * Actions the caller may not perform: EC2 answers UnauthorizedOperation, Auto Scaling
   * AccessDenied, both HTTP 403, with the real messages' "is not authorized to perform: <action>".
   */
  denyActions?: readonly string[];
  /** Seed of the throttling dice; the same seed and request sequence give the same faults. Default 1. */
  seed?: number;
}

export interface LifecycleAction {
  autoScalingGroupName: string;
  lifecycleHookName: string;
  instanceId: string;
  token: string;
}

export interface CompletedLifecycleAction extends LifecycleAction {
  result: string;
}

export interface AwsApiStandIn {
  readonly url: string;
  /**
   * AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_AUTO_SCALING, AWS_REGION and dummy
   * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. AWS_MAX_ATTEMPTS is deliberately not set.
   */
  env(): Record<string, string>;
  putInstance(instance: FakeInstance): void;
  removeInstance(id: string): void;
  setState(id: string, state: InstanceStateName): void;
  instance(id: string): FakeInstance | undefined;
  instances(): FakeInstance[];
  /** Seeds instances from a DescribeInstances XML response; returns what was stored. */
  loadDescribeInstancesXml(xml: string): FakeInstance[];
  addLifecycleAction(action: LifecycleAction): void;
  completedLifecycleActions(): CompletedLifecycleAction[];
  stats(): { total: number; byAction: Record<string, number> };
  resetStats(): void;
  setFaults(plan: AwsFaultPlan | undefined): void;
  setLatency(ms: number): void;
  /**
   * Runs `hook` for every request before it is answered (undefined: none): a test can hold an
   * action (a DescribeInstances, say) while it changes EC2, to order reads against changes.
   */
  setRequestHook(hook: ((request: { readonly action: string }) => void | Promise<void>) | undefined): void;
  close(): Promise<void>;
}
