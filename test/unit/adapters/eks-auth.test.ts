import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createEksToken, kubeConfigSource } from '../../../shared/adapters/eks-auth.ts';

const credentials = async () => ({
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
});
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

function decode(token: string): URL {
  expect(token.startsWith('k8s-aws-v1.')).toBe(true);
  const encoded = token.slice('k8s-aws-v1.'.length);
  expect(encoded).not.toMatch(/[=+/]/); // base64url without padding
  return new URL(Buffer.from(encoded, 'base64url').toString());
}

describe('Function: createEksToken()', () => {
  it('presigns STS GetCallerIdentity for the cluster, as aws-iam-authenticator expects', async () => {
    const now = new Date('2026-11-26T10:00:00Z');
    const { token, expiresAt } = await createEksToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials,
      now,
    });
    const url = decode(token);
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('Version')).toBe('2011-06-15');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261126T100000Z');
    expect(url.searchParams.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20261126/eu-west-1/sts/aws4_request');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(expiresAt).toBe(now.getTime() + 15 * 60_000);
  });

  it('signs differently per cluster, and uses the China partition host there', async () => {
    const a = await createEksToken({ clusterName: 'a', region: 'us-east-1', credentials, now: new Date(0) });
    const b = await createEksToken({ clusterName: 'b', region: 'us-east-1', credentials, now: new Date(0) });
    expect(decode(a.token).searchParams.get('X-Amz-Signature')).not.toBe(
      decode(b.token).searchParams.get('X-Amz-Signature'),
    );
    const cn = await createEksToken({ clusterName: 'a', region: 'cn-north-1', credentials });
    expect(decode(cn.token).host).toBe('sts.cn-north-1.amazonaws.com.cn');
  });
});

describe('Function: kubeConfigSource() for EKS', () => {
  const eks = mockClient(EKSClient);
  afterEach(() => eks.reset());

  it('finds endpoint and CA with DescribeCluster once, and refreshes the token before it expires', async () => {
    eks.on(DescribeClusterCommand, { name: 'prod' }).resolves({
      cluster: {
        endpoint: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com',
        certificateAuthority: { data: CA },
      },
    });
    let now = Date.parse('2026-11-26T10:00:00Z');
    const source = kubeConfigSource(
      { kind: 'eks', clusterName: 'prod', region: 'eu-west-1' },
      { credentials, eks: new EKSClient({ region: 'eu-west-1' }), now: () => now },
    );

    const first = await source();
    const again = await source();
    now += 9 * 60_000;
    const stillSame = await source();
    now += 2 * 60_000; // 11 minutes: inside the 5-minute margin of the 15-minute token
    const refreshed = await source();

    expect(again).toBe(first);
    expect(stillSame).toBe(first);
    expect(refreshed).not.toBe(first);
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(1);
    expect(first.getCurrentCluster()).toMatchObject({
      server: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com',
      caData: CA,
    });
    expect(first.getCurrentUser()?.token).not.toBe(refreshed.getCurrentUser()?.token);
    decode(first.getCurrentUser()!.token!);
  });

  it('skips DescribeCluster when endpoint and CA are configured, and retries it after a failure', async () => {
    const configured = kubeConfigSource(
      { kind: 'eks', clusterName: 'prod', region: 'eu-west-1', endpoint: 'https://k8s.example', caData: CA },
      { credentials, eks: new EKSClient({ region: 'eu-west-1' }) },
    );
    expect((await configured()).getCurrentCluster()?.server).toBe('https://k8s.example');
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(0);

    eks
      .on(DescribeClusterCommand)
      .rejectsOnce(new Error('throttled'))
      .resolves({
        cluster: { endpoint: 'https://later.example', certificateAuthority: { data: CA } },
      });
    const flaky = kubeConfigSource(
      { kind: 'eks', clusterName: 'prod', region: 'eu-west-1' },
      { credentials, eks: new EKSClient({ region: 'eu-west-1' }) },
    );
    await expect(flaky()).rejects.toThrow('throttled');
    expect((await flaky()).getCurrentCluster()?.server).toBe('https://later.example');
  });
});
