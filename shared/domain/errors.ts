/**
 * Why an instance is refused. Refusals are permanent for the event at hand: they are logged, counted
 * (metric `InstancesRefused` with dimension `Reason`) and not retried; the reconciler revisits them.
 */
export const RefusalReason = {
  InvalidGroupTag: 'invalid-group-tag',
  InvalidNetworkTag: 'invalid-network-tag',
  NamespaceNotAllowed: 'namespace-not-allowed',
  WorkloadGroupNotFound: 'workload-group-not-found',
  SourceNotAllowed: 'source-not-allowed',
  NoPrivateIp: 'no-private-ip',
  NameTooLong: 'name-too-long',
  EntryNotOwned: 'entry-not-owned',
  Invalid: 'rejected-by-api-server',
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

export interface Refusal {
  readonly reason: RefusalReason;
  readonly message: string;
}
