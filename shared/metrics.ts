/**
 * The one list of custom metrics: what the functions emit, and what the dashboard and alarms read
 * (infra/constructs/dashboard.ts, alarms.ts). Each metric has a unit, the dimension sets it is
 * emitted with (besides the `service` dimension Powertools adds to every metric) and what it means.
 * `Telemetry` (shared/observability.ts) refuses any other name or dimension set, and an infra test
 * checks that every widget and alarm reads a name and dimension set from this list.
 *
 * | dimension | values | bound |
 * | --- | --- | --- |
 * | (none) | service-wide total | 1 |
 * | `WorkloadGroup` | `<namespace>/<name>` of the instance's group | at most `METRICS_MAX_WORKLOAD_GROUPS` per container (default 50), then `other` |
 * | `Reason` | a refusal reason (shared/domain/errors.ts, services refusals) | fixed list |
 * | `Action` | `register`, `deregister` | 2 |
 * | `Kind` | drift kind: `missing`, `stale`, `changed`, `foreign` | 4 |
 * | `Location` | `<account>/<region>` of a configured spoke (SPOKE_ACCOUNT_REGIONS) | the configured pairs |
 * | `Operation` | the API call (`apply`, `get`, `list`, `delete`, `create`, `patch`; `DescribeInstances`, ...) | the calls the code makes |
 *
 * Never an instance id, an entry name or an IP address: each would make a new CloudWatch metric.
 */

/** CloudWatch units used here (a subset of Powertools' MetricUnit, same spelling). */
export type MetricUnitName = 'Count' | 'Milliseconds' | 'Seconds';

export interface MetricDefinition {
  readonly unit: MetricUnitName;
  /** Every dimension set (beyond `service`) the metric is emitted with; `[]` is the service-wide total. */
  readonly dimensions: ReadonlyArray<readonly string[]>;
  readonly description: string;
}

const total = [[]] as const;
const totalAndGroup = [[], ['WorkloadGroup']] as const;

/** Every custom metric, by name. Add a metric here, then emit it through `telemetry`. */
export const METRICS = {
  EventsReceived: {
    unit: 'Count',
    dimensions: total,
    description: 'Records (SQS messages or direct events) received by the registrar.',
  },
  EventsIgnored: {
    unit: 'Count',
    dimensions: total,
    description:
      'Records deliberately ignored (test notifications, foreign detail-types, untagged instances).',
  },
  EventsRejected: {
    unit: 'Count',
    dimensions: total,
    description: 'Records that could not be parsed: bad JSON, unknown shape. Not retried.',
  },
  EventsFailed: {
    unit: 'Count',
    dimensions: totalAndGroup,
    description:
      'Records that failed with a retriable error and go back to the queue (by group when the instance was read).',
  },
  EventsDeadLettered: {
    unit: 'Count',
    dimensions: total,
    description:
      'Records that cannot succeed on retry (a missing permission, a rejected request): moved to the DLQ at once.',
  },
  InstancesRefused: {
    unit: 'Count',
    dimensions: [['Reason'], ['WorkloadGroup']],
    description:
      'Instances refused by policy: namespace not allowed, bad tag, missing group, no private IP (by reason, and by group when the tag names one).',
  },
  EntriesApplied: {
    unit: 'Count',
    dimensions: totalAndGroup,
    description: 'WorkloadEntries created or changed by the event path.',
  },
  EntriesDeleted: {
    unit: 'Count',
    dimensions: totalAndGroup,
    description: 'WorkloadEntries deleted by the event path.',
  },
  EntriesUnchanged: {
    unit: 'Count',
    dimensions: total,
    description: 'Events whose entry was already as EC2 says (duplicates, replays).',
  },
  LifecycleActionsCompleted: {
    unit: 'Count',
    dimensions: total,
    description: 'Auto Scaling lifecycle actions the registrar completed.',
  },
  LifecycleActionsNotPending: {
    unit: 'Count',
    dimensions: total,
    description: 'CompleteLifecycleAction answered "no active action" (completed earlier, or timed out).',
  },
  LifecycleActionsAbandoned: {
    unit: 'Count',
    dimensions: total,
    description:
      'Lifecycle actions completed with ABANDON (a launch gate that timed out, a launch that could not register).',
  },
  LifecycleHeartbeats: {
    unit: 'Count',
    dimensions: total,
    description:
      "RecordLifecycleActionHeartbeat calls made: a wait or a failing record that would outlast the hook's timeout.",
  },
  LifecycleWaits: {
    unit: 'Count',
    dimensions: total,
    description:
      "Continuation messages sent to the registrar's own queue: drains, gate polls and retries waiting out of any Lambda.",
  },
  LifecycleRetries: {
    unit: 'Count',
    dimensions: total,
    description:
      'Lifecycle records whose convergence failed and that come back by a continuation (heartbeated when due).',
  },
  LaunchGateTimeouts: {
    unit: 'Count',
    dimensions: total,
    description:
      "Launch gates that did not pass in time: the action was completed with the group's timeout result.",
  },
  LifecycleSettingsInvalid: {
    unit: 'Count',
    dimensions: total,
    description: 'WorkloadGroup lifecycle annotations that could not be read: the defaults applied instead.',
  },
  HintsUnverified: {
    unit: 'Count',
    dimensions: total,
    description:
      'Hints that EC2 or Auto Scaling contradicted (a Spot warning for an on-demand instance...): not acted on.',
  },
  LaunchesNotVisibleYet: {
    unit: 'Count',
    dimensions: total,
    description: 'A just-launched instance EC2 does not show yet: retried, not a failure.',
  },
  StaleWritesCorrected: {
    unit: 'Count',
    dimensions: total,
    description:
      'Writes a fresh EC2 read right after contradicted, corrected at once: an entry written for an instance that left meanwhile, or deleted for one that came back.',
  },
  KubernetesErrors: {
    unit: 'Count',
    dimensions: total,
    description: 'Kubernetes API calls that failed after their retries.',
  },
  Ec2Errors: {
    unit: 'Count',
    dimensions: total,
    description: 'EC2 and Auto Scaling reads that failed after their retries.',
  },
  ReconcileCreated: {
    unit: 'Count',
    dimensions: totalAndGroup,
    description: 'Entries a sweep created (instances without one).',
  },
  ReconcileUpdated: {
    unit: 'Count',
    dimensions: totalAndGroup,
    description: 'Entries a sweep changed (address, labels, template).',
  },
  ReconcileDeleted: {
    unit: 'Count',
    dimensions: totalAndGroup,
    description: 'Entries a sweep deleted (instances gone or no longer tagged).',
  },
  ReconcileUnchanged: {
    unit: 'Count',
    dimensions: totalAndGroup,
    description: 'Entries a sweep found as they should be.',
  },
  ReconcileErrors: {
    unit: 'Count',
    dimensions: total,
    description: 'Errors of a sweep (listings, writes).',
  },
  ReconcileRequestsRejected: {
    unit: 'Count',
    dimensions: total,
    description:
      'Invocations of the reconciler refused before any work: the payload is not a reconcile request (a misconfigured schedule or a hand-made invocation).',
  },
  ReconcileSafetyStops: {
    unit: 'Count',
    dimensions: total,
    description: 'Groups whose deletions a sweep withheld for the delete-ratio safety.',
  },
  ReconcileDuration: {
    unit: 'Milliseconds',
    dimensions: total,
    description: 'How long a sweep took.',
  },
  ReconcileDrift: {
    unit: 'Count',
    dimensions: [['Kind'], ['WorkloadGroup', 'Kind']],
    description:
      'Drift a sweep found (and, unless a dry run, repaired), by kind: missing (an instance without its entry), stale (an entry without its instance), changed (an entry that differs), foreign (a name held by an object the registrar does not manage).',
  },
  SpokeAccessErrors: {
    unit: 'Count',
    dimensions: [['Location']],
    description:
      'The member role of another account could not be assumed (trust, ExternalId, a missing spoke stack): records of that account/region come back, sweeps delete nothing there.',
  },
  EventsFromUnknownLocation: {
    unit: 'Count',
    dimensions: total,
    description:
      'Events from an account/region that is not configured (SPOKE_ACCOUNT_REGIONS): not read, dropped.',
  },
  ReconcileLocationsUnlisted: {
    unit: 'Count',
    dimensions: total,
    description:
      'Account/region pairs a sweep could not list: no deletions for the groups with instances there.',
  },
  BootstrapRefreshFailed: {
    unit: 'Count',
    dimensions: [['Reason']],
    description: "VM bootstrap: a group's bundle or token could not be refreshed, by reason.",
  },
  BootstrapTokenLate: {
    unit: 'Count',
    dimensions: total,
    description:
      'VM bootstrap: a token was found past its refresh point by 1.5 schedule intervals (runs failed or missed).',
  },
  BootstrapTokenExpired: {
    unit: 'Count',
    dimensions: total,
    description: 'VM bootstrap: a token was found expired: VMs fetching it cannot renew their certificates.',
  },
  BootstrapTokensMinted: {
    unit: 'Count',
    dimensions: total,
    description: 'VM bootstrap: istio-ca tokens minted and stored.',
  },
  BootstrapFilesWritten: {
    unit: 'Count',
    dimensions: total,
    description: 'VM bootstrap: bundle files (cluster.env, mesh.yaml, ...) written because they changed.',
  },
  BootstrapTokenSecondsLeft: {
    unit: 'Seconds',
    dimensions: total,
    description: 'VM bootstrap: seconds the shortest-lived stored token has left after a run (a gauge).',
  },
  ServicesApplied: {
    unit: 'Count',
    dimensions: total,
    description: 'Services and ServiceEntries written (created or changed) by server-side apply.',
  },
  ServicesDeleted: {
    unit: 'Count',
    dimensions: total,
    description: 'Services and ServiceEntries deleted (opt-out, renamed).',
  },
  ServicesRefused: {
    unit: 'Count',
    dimensions: [['Reason']],
    description:
      'Groups whose Services were refused (bad annotation, no ports, a foreign object of that name), by reason.',
  },
  EndpointSliceWrites: {
    unit: 'Count',
    dimensions: total,
    description: 'EndpointSlices of direct Services created, updated or deleted.',
  },
  EndpointSliceConflicts: {
    unit: 'Count',
    dimensions: total,
    description: 'EndpointSlice writes refused for a stale resourceVersion (re-read and retried).',
  },
  TimeToMesh: {
    unit: 'Milliseconds',
    dimensions: [['Action']],
    description:
      "From the EC2/Auto Scaling event's own `time` to the entry's write (register) or deletion (deregister); only for events whose time parses and is plausible (not in the future, under a day old).",
  },
  MessageAge: {
    unit: 'Milliseconds',
    dimensions: total,
    description: 'Age of an SQS message when the registrar received it (from its SentTimestamp attribute).',
  },
  KubernetesLatency: {
    unit: 'Milliseconds',
    dimensions: [['Operation']],
    description: 'Duration of each Kubernetes API call, retries included, by verb.',
  },
  Ec2Latency: {
    unit: 'Milliseconds',
    dimensions: [['Operation']],
    description: 'Duration of each EC2 and Auto Scaling call, SDK retries included, by API action.',
  },
  BusEventsPublished: {
    unit: 'Count',
    dimensions: total,
    description: 'Events accepted by the EventBridge bus (EVENT_BUS).',
  },
  BusEventsFailed: {
    unit: 'Count',
    dimensions: total,
    description:
      'Events the bus refused after their retries (throttling, an internal error, a missing permission): lost for other automation, never for the registrar.',
  },
  KubernetesEventsWritten: {
    unit: 'Count',
    dimensions: total,
    description: 'Kubernetes Events created or, for a repeat, patched (series count).',
  },
  KubernetesEventsFailed: {
    unit: 'Count',
    dimensions: total,
    description:
      'Kubernetes Events that could not be written (RBAC, API server) or were dropped past the per-invocation bound: the record itself is unaffected.',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;

/** Metric names by name, for call sites (`Metric.EntriesApplied`). */
export const Metric = Object.fromEntries(Object.keys(METRICS).map((name) => [name, name])) as {
  readonly [N in MetricName]: N;
};

/** The dimension names of one of a metric's dimension sets. */
export type DimensionSetOf<N extends MetricName> = (typeof METRICS)[N]['dimensions'][number];

/** Dimension values for one of `N`'s sets (`{}` for the service-wide total). */
export type DimensionsOf<N extends MetricName> =
  DimensionSetOf<N> extends infer S
    ? S extends readonly string[]
      ? { readonly [K in S[number]]: string }
      : never
    : never;

/** Whether `names` (in any order) is one of the dimension sets `name` is defined with. */
export function isDefinedDimensionSet(name: string, names: readonly string[]): boolean {
  const definition = (METRICS as Record<string, MetricDefinition>)[name];
  if (!definition) return false;
  const wanted = [...names].sort().join(',');
  return definition.dimensions.some((set) => [...set].sort().join(',') === wanted);
}

/** Value of the `WorkloadGroup` dimension beyond the cap. */
export const OTHER_GROUPS = 'other';
/** Distinct `WorkloadGroup` values one container emits before it folds the rest into `other`. */
export const DEFAULT_MAX_METRIC_GROUPS = 50;
/** A TimeToMesh sample from an event older than this is not plausible (a replay, a redrive). */
export const TIME_TO_MESH_MAX_AGE_MS = 24 * 60 * 60 * 1000;
