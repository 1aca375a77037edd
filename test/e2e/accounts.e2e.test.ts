import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler, resetApp } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { sqsEvent, stateChange } from '../helpers/fixtures.ts';
import { instance } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';
import { type AwsAccountsStandIn, startAwsAccounts } from '../standins/aws-api/accounts.ts';

/**
 * Other accounts and regions against a real cluster with Istio's CRDs (`E2E_KUBECONFIG`): entries of
 * spoke instances (another region's locality, a mapped network, the spoke's account) pass the real
 * API server's validation, a claim from another account deletes nothing registered elsewhere, and a
 * spoke whose role cannot be assumed holds its groups' deletions. AWS stays the local stand-ins.
 */
const kubeconfigPath = process.env.E2E_KUBECONFIG;
if (!kubeconfigPath) process.stderr.write('E2E_KUBECONFIG is not set: the real-cluster suite was not run\n');

const GROUP = 'networking.istio.io';
const VERSION = 'v1';
const HOME = { account: '111111111111', region: 'us-west-2' };
const SPOKE = { account: '222222222222', region: 'eu-west-1' };
const ROLE = `arn:aws:iam::${SPOKE.account}:role/istio-vm-registrar-member`;

interface Entry {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { address?: string; locality?: string; network?: string };
}

describe.runIf(kubeconfigPath)('E2E: a fleet across accounts and regions against a real cluster', () => {
  const namespace = `vm-registrar-e2e-${randomBytes(3).toString('hex')}`;
  let accounts: AwsAccountsStandIn;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  const saved = { ...process.env };
  const send = async (bodies: string[]) =>
    (await handler(sqsEvent(bodies, 'e2e-accounts'), cliContext('registrar-e2e'))) as SQSBatchResponse;
  const from = (where: { account: string; region: string }, body: string) =>
    JSON.stringify({ ...(JSON.parse(body) as object), ...where });
  const entries = async () =>
    Object.fromEntries(
      (
        (await custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: 'workloadentries',
        })) as { items: Entry[] }
      ).items.map((e) => [e.metadata.name, e]),
    );
  const tags = { 'istio-vm/workload-group': `${namespace}/reviews` };

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath!);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'workloadgroups',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'WorkloadGroup',
        metadata: { name: 'reviews', namespace },
        spec: {
          metadata: { labels: { app: 'reviews' } },
          template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
        },
      },
    });
    accounts = await startAwsAccounts({ home: HOME, locations: [SPOKE] });
    accounts.addRole({ arn: ROLE, trustedAccounts: [HOME.account], externalId: 'e2e-external-id' });
    Object.assign(process.env, accounts.env(), {
      KUBECONFIG: kubeconfigPath,
      ALLOWED_NAMESPACES: namespace,
      HOME_ACCOUNT_ID: HOME.account,
      SPOKE_ACCOUNT_REGIONS: `${SPOKE.account}:${SPOKE.region}`,
      MEMBER_EXTERNAL_ID: 'e2e-external-id',
      NETWORK_MAP: `${SPOKE.account}=spoke-network`,
    });
    delete process.env.CLUSTER_NAME;
    resetApp();
  });

  afterAll(async () => {
    resetApp();
    process.env = saved;
    await accounts?.close();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('registers a spoke instance with its region, account and mapped network, beside a home instance', async () => {
    accounts.at(HOME.account, HOME.region).putInstance(instance('i-0e2e0000000000a01', { tags }));
    accounts
      .at(SPOKE.account, SPOKE.region)
      .putInstance(instance('i-0e2e0000000000b01', { tags, availabilityZone: 'eu-west-1c' }));
    const response = await send([
      from(HOME, stateChange('i-0e2e0000000000a01', 'running')),
      from(SPOKE, stateChange('i-0e2e0000000000b01', 'running')),
    ]);
    expect(response.batchItemFailures).toEqual([]);
    const live = await entries();
    expect(live['reviews-i-0e2e0000000000b01']?.spec).toMatchObject({
      locality: 'eu-west-1/eu-west-1c',
      network: 'spoke-network',
    });
    expect(
      live['reviews-i-0e2e0000000000b01']?.metadata.annotations?.['istio-vm-registrar.io/account-id'],
    ).toBe(SPOKE.account);
    expect(live['reviews-i-0e2e0000000000a01']?.spec.network).toBeUndefined();
  });

  it('a terminate claimed from the spoke for the home instance deletes nothing', async () => {
    await send([from(SPOKE, stateChange('i-0e2e0000000000a01', 'terminated'))]);
    expect(Object.keys(await entries()).sort()).toEqual([
      'reviews-i-0e2e0000000000a01',
      'reviews-i-0e2e0000000000b01',
    ]);
  });

  it('a spoke whose role cannot be assumed: its record fails, and a sweep deletes nothing in its groups', async () => {
    accounts.denyAssumeRole(ROLE);
    accounts.at(SPOKE.account, SPOKE.region).setState('i-0e2e0000000000b01', 'terminated');
    accounts.at(HOME.account, HOME.region).setState('i-0e2e0000000000a01', 'terminated');
    resetApp(); // a new container: no session cached
    const response = await send([from(SPOKE, stateChange('i-0e2e0000000000b01', 'terminated'))]);
    expect(response.batchItemFailures).toHaveLength(1);
    const summary = await reconcilerFromEnv().run();
    expect(Object.keys(summary.unlistedLocations ?? {})).toEqual([`${SPOKE.account}:${SPOKE.region}`]);
    expect(Object.keys(await entries()).sort()).toEqual([
      'reviews-i-0e2e0000000000a01',
      'reviews-i-0e2e0000000000b01',
    ]);
    accounts.allowAssumeRole(ROLE);
    await reconcilerFromEnv().run();
    expect(await entries()).toEqual({});
  });
});
