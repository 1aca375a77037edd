/**
 * STS `AssumeRole` (Query protocol, version 2011-06-15), as far as the registrar uses it: a role
 * registry with trust (caller accounts and an ExternalId), a switch to deny, and a record of every
 * call. Issued credentials are random ASIA keys that the multi-account front door maps back to the
 * role's account. See README.md ("Other accounts and regions").
 *
 * Wire shapes: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
import { randomBytes } from 'node:crypto';
import { escapeXml } from './xml.ts';

export const STS_VERSION = '2011-06-15';
export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

export interface StandInRole {
  readonly arn: string;
  /** Accounts whose principals the trust policy admits. */
  readonly trustedAccounts: readonly string[];
  /** The `sts:ExternalId` the trust policy requires (undefined: none). */
  readonly externalId?: string;
}

export interface AssumeRoleCall {
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly externalId?: string;
  readonly durationSeconds?: number;
  /** Access key id the request was signed with. */
  readonly callerAccessKeyId: string;
  readonly callerAccount: string;
  readonly outcome: 'issued' | 'denied';
  /** Access key id issued (when `issued`). */
  readonly issuedAccessKeyId?: string;
}

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly account: string;
  readonly roleArn: string;
  readonly expiration: Date;
}

export class StsError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const key = (prefix: string) =>
  prefix +
  randomBytes(12)
    .toString('base64')
    .replace(/[^A-Z0-9]/gi, '')
    .toUpperCase()
    .padEnd(16, 'X')
    .slice(0, 16);

/** The STS side of the stand-in: roles, denials, issued sessions, the call log. */
export class StsRegistry {
  readonly calls: AssumeRoleCall[] = [];
  readonly #roles = new Map<string, StandInRole>();
  readonly #denied = new Map<string, string>();
  readonly #issued = new Map<string, IssuedCredentials>();
  /** Lifetime of issued credentials; undefined: the requested DurationSeconds (default 3600). */
  lifetimeSeconds: number | undefined;

  addRole(role: StandInRole): void {
    this.#roles.set(role.arn, role);
  }

  /** Every AssumeRole of `roleArn` fails with AccessDenied until {@link allow}. */
  deny(roleArn: string): void {
    this.#denied.set(roleArn, 'denied');
  }

  allow(roleArn: string): void {
    this.#denied.delete(roleArn);
  }

  /** The session an access key belongs to, if it was issued here. */
  issued(accessKeyId: string): IssuedCredentials | undefined {
    return this.#issued.get(accessKeyId);
  }

  /** Answers one STS Query request signed by `caller`; throws {@link StsError}. */
  handle(params: URLSearchParams, caller: { accessKeyId: string; account: string; arn: string }): string {
    const action = params.get('Action') ?? '';
    if (action !== 'AssumeRole') {
      throw new StsError(
        'InvalidAction',
        `Could not find operation ${action} for version ${STS_VERSION}`,
        400,
      );
    }
    const roleArn = params.get('RoleArn') ?? '';
    const roleSessionName = params.get('RoleSessionName') ?? '';
    const externalId = params.get('ExternalId') ?? undefined;
    const duration = params.get('DurationSeconds');
    const durationSeconds = duration === null ? undefined : Number(duration);
    if (!/^[\w+=,.@-]{2,64}$/.test(roleSessionName)) {
      throw new StsError('ValidationError', `Invalid RoleSessionName "${roleSessionName}"`, 400);
    }
    const role = this.#roles.get(roleArn);
    const denied =
      !role ||
      this.#denied.has(roleArn) ||
      !role.trustedAccounts.includes(caller.account) ||
      (role.externalId !== undefined && role.externalId !== externalId);
    const base = {
      roleArn,
      roleSessionName,
      ...(externalId !== undefined ? { externalId } : {}),
      ...(durationSeconds !== undefined ? { durationSeconds } : {}),
      callerAccessKeyId: caller.accessKeyId,
      callerAccount: caller.account,
    };
    if (denied) {
      this.calls.push({ ...base, outcome: 'denied' });
      // STS does not say which condition failed.
      throw new StsError(
        'AccessDenied',
        `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    }
    const account = roleArn.split(':')[4] ?? '';
    const accessKeyId = key('ASIA');
    const expiration = new Date(Date.now() + (this.lifetimeSeconds ?? durationSeconds ?? 3600) * 1000);
    this.#issued.set(accessKeyId, { accessKeyId, account, roleArn, expiration });
    this.calls.push({ ...base, outcome: 'issued', issuedAccessKeyId: accessKeyId });
    const roleName = roleArn.split('/').pop();
    return (
      `<AssumeRoleResult><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId>` +
      `<SecretAccessKey>${randomBytes(30).toString('base64')}</SecretAccessKey>` +
      `<SessionToken>${randomBytes(60).toString('base64')}</SessionToken>` +
      `<Expiration>${expiration.toISOString()}</Expiration></Credentials>` +
      `<AssumedRoleUser><Arn>${escapeXml(`arn:aws:sts::${account}:assumed-role/${roleName}/${roleSessionName}`)}</Arn>` +
      `<AssumedRoleId>AROA${accessKeyId.slice(4)}:${escapeXml(roleSessionName)}</AssumedRoleId></AssumedRoleUser>` +
      '</AssumeRoleResult>'
    );
  }
}

export function stsResponse(action: string, requestId: string, result: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${STS_XMLNS}">${result}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

export function stsErrorResponse(error: StsError, requestId: string): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${STS_XMLNS}"><Error><Type>${type}</Type><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
