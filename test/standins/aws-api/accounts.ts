/**
 * Several AWS accounts and regions behind one URL, as AWS itself tells them apart: the account from
 * the credentials a request is signed with, the region from its SigV4 credential scope
 * (`Credential=<key>/<date>/<region>/<service>/aws4_request`). Each account/region pair is its own
 * EC2 + Auto Scaling stand-in ({@link startAwsApi}); STS `AssumeRole` is answered here and its
 * sessions are what admit a caller to another account. Point `AWS_ENDPOINT_URL_EC2`,
 * `AWS_ENDPOINT_URL_AUTO_SCALING` and `AWS_ENDPOINT_URL_STS` at {@link AwsAccountsStandIn.url}
 * (`env()` does). See README.md ("Other accounts and regions").
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAwsApi } from './index.ts';
import { ApiError, errorResponse } from './protocol.ts';
import {
  type AssumeRoleCall,
  type StandInRole,
  StsError,
  StsRegistry,
  stsErrorResponse,
  stsResponse,
} from './sts.ts';
import type { AwsApiStandIn } from './types.ts';

export type { AssumeRoleCall, StandInRole } from './sts.ts';

export interface AccountRegion {
  readonly account: string;
  readonly region: string;
}

export interface RoutedRequest extends AccountRegion {
  readonly service: string;
  readonly action: string;
  readonly accessKeyId: string;
}

export interface AwsAccountsStandIn {
  readonly url: string;
  /** Endpoints of EC2, Auto Scaling and STS, the home region, and the home account's access key. */
  env(): Record<string, string>;
  readonly homeAccessKeyId: string;
  /** The EC2/Auto Scaling stand-in of one pair; `putInstance` fills `ownerId` with its account. */
  at(account: string, region: string): AwsApiStandIn;
  addRole(role: StandInRole): void;
  /** Every AssumeRole of this role fails (AccessDenied) until `allowAssumeRole`. */
  denyAssumeRole(roleArn: string): void;
  allowAssumeRole(roleArn: string): void;
  /** Lifetime of the credentials AssumeRole issues from now on (default: the DurationSeconds asked). */
  setSessionLifetime(seconds: number | undefined): void;
  assumeRoleCalls(): AssumeRoleCall[];
  /** Every EC2 / Auto Scaling request routed, with the pair it reached and the key it was signed with. */
  requests(): RoutedRequest[];
  close(): Promise<void>;
}

const SIGV4_SCOPE = /Credential=([A-Z0-9]+)\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request/;

export async function startAwsAccounts(options: {
  home: AccountRegion;
  /** Every pair with an EC2 endpoint (the home pair is added). */
  locations: readonly AccountRegion[];
}): Promise<AwsAccountsStandIn> {
  const homeAccessKeyId = 'AKIAHOMEACCOUNT00001';
  const homeArn = `arn:aws:sts::${options.home.account}:assumed-role/registrar/istio-vm-registrar`;
  const sts = new StsRegistry();
  const routed: RoutedRequest[] = [];
  const backends = new Map<string, AwsApiStandIn>();
  const pairs = [options.home, ...options.locations].filter(
    (p, i, all) => all.findIndex((q) => q.account === p.account && q.region === p.region) === i,
  );
  for (const pair of pairs) {
    const api = await startAwsApi({ region: pair.region });
    backends.set(`${pair.account}:${pair.region}`, {
      ...api,
      putInstance: (instance) => api.putInstance({ ownerId: pair.account, ...instance }),
    });
  }

  const callerOf = (accessKeyId: string) => {
    if (accessKeyId === homeAccessKeyId) return { accessKeyId, account: options.home.account, arn: homeArn };
    const session = sts.issued(accessKeyId);
    if (!session) return undefined;
    return {
      accessKeyId,
      account: session.account,
      arn: `arn:aws:sts::${session.account}:assumed-role/${session.roleArn.split('/').pop()}/session`,
    };
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const params = new URLSearchParams(body.toString('utf8'));
    const requestId = randomUUID();
    const scope = SIGV4_SCOPE.exec(String(req.headers.authorization ?? ''));
    const [, accessKeyId = '', region = '', service = ''] = scope ?? [];
    const caller = callerOf(accessKeyId);
    const reply = (status: number, xml: string) => {
      res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(xml);
    };
    if (service === 'sts') {
      if (!caller) {
        reply(
          403,
          stsErrorResponse(
            new StsError(
              'InvalidClientTokenId',
              'The security token included in the request is invalid.',
              403,
            ),
            requestId,
          ),
        );
        return;
      }
      try {
        reply(200, stsResponse('AssumeRole', requestId, sts.handle(params, caller)));
      } catch (error) {
        if (!(error instanceof StsError)) throw error;
        reply(error.status, stsErrorResponse(error, requestId));
      }
      return;
    }
    const kind = service === 'autoscaling' ? 'autoscaling' : 'ec2';
    const backend = caller ? backends.get(`${caller.account}:${region}`) : undefined;
    if (!caller || !backend) {
      const message = caller
        ? `stand-in: no endpoint for account ${caller.account} in region ${region}`
        : 'AWS was not able to validate the provided access credentials';
      reply(401, errorResponse(kind, new ApiError('AuthFailure', message, 401), requestId));
      return;
    }
    routed.push({
      account: caller.account,
      region,
      service: kind,
      action: params.get('Action') ?? '',
      accessKeyId,
    });
    const target = new URL(backend.url);
    await new Promise<void>((resolve, reject) => {
      const forward = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          answer.pipe(res);
          answer.on('end', resolve);
          answer.on('error', reject);
        },
      );
      forward.on('error', reject);
      forward.end(body);
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    homeAccessKeyId,
    env: () => ({
      AWS_ENDPOINT_URL_EC2: url,
      AWS_ENDPOINT_URL_AUTO_SCALING: url,
      AWS_ENDPOINT_URL_STS: url,
      AWS_REGION: options.home.region,
      AWS_ACCESS_KEY_ID: homeAccessKeyId,
      AWS_SECRET_ACCESS_KEY: 'stand-in-secret-access-key',
    }),
    at: (account, region) => {
      const backend = backends.get(`${account}:${region}`);
      if (!backend) throw new Error(`stand-in: no location ${account}:${region}`);
      return backend;
    },
    addRole: (role) => sts.addRole(role),
    denyAssumeRole: (arn) => sts.deny(arn),
    allowAssumeRole: (arn) => sts.allow(arn),
    setSessionLifetime: (seconds) => {
      sts.lifetimeSeconds = seconds;
    },
    assumeRoleCalls: () => [...sts.calls],
    requests: () => [...routed],
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([...backends.values()].map((b) => b.close()));
    },
  };
}
