/**
 * Errors raised by adapters. `retriable` tells the caller whether the same call may succeed later
 * (throttling, 5xx, connection resets): the registrar then hands the record back to SQS.
 */
export class AdapterError extends Error {
  override readonly name: string = 'AdapterError';
  readonly retriable: boolean;
  readonly status: number | undefined;
  constructor(message: string, options: { retriable: boolean; status?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options.retriable;
    this.status = options.status;
  }
}

export class KubernetesError extends AdapterError {
  override readonly name = 'KubernetesError';
  /** Kubernetes Status reason (NotFound, Conflict, Invalid, ...), when the server sent one. */
  readonly reason: string | undefined;
  constructor(
    message: string,
    options: { retriable: boolean; status?: number; reason?: string; cause?: unknown },
  ) {
    super(message, options);
    this.reason = options.reason;
  }
}

export class Ec2Error extends AdapterError {
  override readonly name = 'Ec2Error';
}

/**
 * The member role of another account could not be assumed (the spoke stack is missing, its trust
 * policy or ExternalId does not match, STS is unreachable). Retriable: the record comes back through
 * SQS (and ends in the DLQ if the spoke stays misconfigured); a sweep makes no deletions there.
 */
export class MemberAccessError extends AdapterError {
  override readonly name = 'MemberAccessError';
  /** Account whose member role could not be assumed. */
  readonly account: string;
  readonly roleArn: string;
  constructor(message: string, options: { account: string; roleArn: string; cause?: unknown }) {
    super(message, { retriable: true, ...(options.cause === undefined ? {} : { cause: options.cause }) });
    this.account = options.account;
    this.roleArn = options.roleArn;
  }
}
