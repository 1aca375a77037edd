import type { PublishedEvent } from './eventbridge.ts';
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
  /**
   * The hook's transition; by default that of the hook registered with `addLifecycleHook`. When
   * known, the instance's Auto Scaling state becomes `Pending:Wait` / `Terminating:Wait`.
   */
  transition?: 'launching' | 'terminating';
}

export interface CompletedLifecycleAction extends LifecycleAction {
  result: string;
  /** `call`: CompleteLifecycleAction; `timeout`: the hook's default result applied by Auto Scaling. */
  by: 'call' | 'timeout';
  /** When (stand-in clock, epoch ms). */
  at: number;
}

/** A pending action as the stand-in keeps it. */
export interface PendingLifecycleAction extends LifecycleAction {
  startedAt: number;
  /** The heartbeat timeout runs out here (restarted by each heartbeat). */
  expiresAt: number;
  /** The global timeout: no heartbeat extends the action past it. */
  globalExpiresAt: number;
  heartbeats: number;
}

/** A lifecycle hook on a group (PutLifecycleHook's fields the model uses). */
export interface LifecycleHookSpec {
  autoScalingGroupName: string;
  lifecycleHookName: string;
  transition: 'launching' | 'terminating';
  /** Seconds, 30-7200; default 3600 (the service's). */
  heartbeatTimeout?: number;
  /** Default ABANDON (the service's). */
  defaultResult?: 'CONTINUE' | 'ABANDON';
}

/** One request the stand-in answered (or a timeout it applied), in order. */
export interface AwsCall {
  /** Position among every call of both stand-ins (see ../sequence.ts). */
  seq: number;
  /** Stand-in clock, epoch ms. */
  at: number;
  service: 'ec2' | 'autoscaling' | 'sqs' | 'events';
  /** The API action, or `LifecycleActionTimeout` for a timeout applied by the model. */
  action: string;
  /** Request parameters (Query protocol) or members (JSON protocol), flattened to strings. */
  params: Record<string, string>;
  /** HTTP status answered (200 for a timeout). */
  status: number;
  /** Error code, when the call failed. */
  error?: string;
}

/** A message as the queue model holds it. */
export interface QueuedMessage {
  messageId: string;
  body: string;
  /** Epoch ms (stand-in clock) from which a receive returns it. */
  visibleAt: number;
  receiveCount: number;
  sentAt: number;
  delaySeconds: number;
}

export interface AwsApiStandIn {
  readonly url: string;
  /**
   * AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_EVENTBRIDGE, AWS_REGION and dummy
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
  /** EventBridge: creates a custom bus (`default` always exists). */
  createEventBus(name: string): void;
  /** EventBridge: every event PutEvents accepted, in order. */
  publishedEvents(): PublishedEvent[];
  completedLifecycleActions(): CompletedLifecycleAction[];
  /** Registers a hook (DescribeLifecycleHooks answers it; its timeouts drive the actions'). */
  addLifecycleHook(hook: LifecycleHookSpec): void;
  /** Pending actions, after applying any timeout the clock has passed. */
  pendingLifecycleActions(): PendingLifecycleAction[];
  /** Applies the default result of every action whose timeout the clock has passed. */
  expireLifecycleActions(): void;
  /** Every request answered and timeout applied, in order. */
  calls(): AwsCall[];
  /** SQS: creates a queue and returns its URL (`<url>/123456789012/<name>`). */
  createQueue(
    name: string,
    options?: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number; deadLetterQueueUrl?: string },
  ): string;
  /** SQS: what EventBridge does: puts a message on a queue. */
  enqueue(queueUrl: string, body: string, delaySeconds?: number): string;
  /**
   * SQS: what the Lambda event source does: receives up to `max` visible messages (each becomes
   * invisible for the visibility timeout, its receive count goes up; one received more than
   * maxReceiveCount times moves to the dead-letter queue instead).
   */
  receive(
    queueUrl: string,
    max?: number,
  ): Array<{ messageId: string; receiptHandle: string; body: string; receiveCount: number }>;
  /** SQS: deletes a received message (a record the handler processed). */
  deleteMessage(queueUrl: string, receiptHandle: string): void;
  /** SQS: the earliest time a message of the queue becomes visible (undefined: empty). */
  nextVisibleAt(queueUrl: string): number | undefined;
  /** SQS: the queue's messages, visible or not. */
  queueMessages(queueUrl: string): QueuedMessage[];
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
