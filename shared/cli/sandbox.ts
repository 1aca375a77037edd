import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from './exit.ts';

/** Instances the sandbox starts with: the ids AWS's own samples in test/fixtures/aws-events name. */
export const SANDBOX_INSTANCES = ['i-1234567890abcdef0', 'i-abcd1111', 'i-0a1b2c3d4e5f60003'] as const;
export const SANDBOX_NAMESPACE = 'bookinfo';

const quote = (value: string) =>
  /^[\w@%+=:,./-]*$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;

/**
 * `vm-registrar sandbox`: both stand-ins on loopback with a WorkloadGroup and a few tagged running
 * instances (no entries yet), and the environment that points `status`, `reconcile` and `replay`
 * at them, printed as shell and written to a file to `source`. Runs until SIGINT or SIGTERM.
 */
export async function runSandbox(): Promise<number> {
  // Test code, imported only here: the other commands never load the stand-ins.
  const { startKubeApi } = await import('../../test/standins/kube-api/index.ts');
  const { startAwsApi } = await import('../../test/standins/aws-api/index.ts');
  const region = 'us-west-2';
  const kubeApi = await startKubeApi({ namespaces: ['default', SANDBOX_NAMESPACE] });
  const aws = await startAwsApi({ region });
  const dir = mkdtempSync(join(tmpdir(), 'vm-registrar-sandbox-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    kubeApi.writeKubeconfig(kubeconfig);
    kubeApi.seed({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadGroup',
      metadata: { name: 'reviews', namespace: SANDBOX_NAMESPACE },
      spec: {
        metadata: { labels: { app: 'reviews', version: 'v1' } },
        template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
      },
    });
    for (const [i, instanceId] of SANDBOX_INSTANCES.entries()) {
      aws.putInstance({
        instanceId,
        state: 'running',
        privateIpAddress: `10.0.${i + 1}.${10 + i}`,
        availabilityZone: `${region}${'abc'[i]}`,
        launchTime: new Date(Date.UTC(2026, 10, 26, 9, i)).toISOString(),
        tags: {
          'istio-vm/workload-group': `${SANDBOX_NAMESPACE}/reviews`,
          'aws:autoscaling:groupName': 'my-asg',
          Name: `reviews-${i + 1}`,
        },
      });
    }
    const env: Record<string, string> = {
      ...aws.env(),
      AWS_REGION: region,
      KUBECONFIG: kubeconfig,
      ALLOWED_NAMESPACES: SANDBOX_NAMESPACE,
    };
    const lines = [
      ...Object.entries(env).map(([key, value]) => `export ${key}=${quote(value)}`),
      // EKS mode would ignore the kubeconfig.
      'unset CLUSTER_NAME',
    ];
    const envFile = join(dir, 'env.sh');
    writeFileSync(envFile, `${lines.join('\n')}\n`);
    process.stdout.write(
      [
        `# vm-registrar sandbox: Kubernetes API stand-in ${kubeApi.url}, EC2/Auto Scaling stand-in ${aws.url}`,
        `# seeded: WorkloadGroup ${SANDBOX_NAMESPACE}/reviews; running instances tagged for it: ${SANDBOX_INSTANCES.join(', ')}`,
        `# in another shell, paste these lines (or: source ${envFile}), then run status, reconcile or replay:`,
        ...lines,
        '# Ctrl-C stops the sandbox',
        '',
      ].join('\n'),
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write(`\n${signal}: stopping the sandbox\n`);
    return EXIT.ok;
  } finally {
    await Promise.all([kubeApi.close(), aws.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
