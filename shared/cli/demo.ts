import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SQSBatchResponse } from 'aws-lambda';
import { ENTRY_HEADERS, entryRows } from './entries-table.ts';
import { EXIT } from './exit.ts';
import { cliContext } from './replay.ts';
import { renderTable } from './table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EVENTS = join(ROOT, 'test', 'fixtures', 'aws-events');

/** The registrar's own hooks, as `createLifecycleHooks` names them and LIFECYCLE_HOOK_NAMES defaults to. */
const LAUNCH_HOOK = 'istio-vm-registrar-launch';
const TERMINATE_HOOK = 'istio-vm-registrar-terminate';

/** A verbatim AWS sample with its instance id (and lifecycle hook and token) replaced. */
function sample(file: string, instanceId: string, lifecycle?: { hook: string; token: string }): string {
  const event = JSON.parse(readFileSync(join(EVENTS, file), 'utf8')) as { detail: Record<string, unknown> };
  const detail = { ...event.detail };
  if ('EC2InstanceId' in detail) detail.EC2InstanceId = instanceId;
  if ('instance-id' in detail) detail['instance-id'] = instanceId;
  if (lifecycle && 'LifecycleActionToken' in detail) {
    detail.LifecycleActionToken = lifecycle.token;
    detail.LifecycleHookName = lifecycle.hook;
  }
  return JSON.stringify({ ...event, detail });
}

function stateChange(instanceId: string, state: string): string {
  const event = JSON.parse(readFileSync(join(EVENTS, 'ec2-instance-state-change-terminated.json'), 'utf8'));
  return JSON.stringify({ ...event, region: 'us-west-2', detail: { 'instance-id': instanceId, state } });
}

const log = (line = '') => process.stdout.write(`${line}\n`);

/**
 * `npm start`: starts the Kubernetes and EC2/Auto Scaling stand-ins on loopback, seeds a sample
 * WorkloadGroup, replays a scale-out of three instances and a scale-in of one through the
 * registrar's Lambda handler, and prints the WorkloadEntries after each step.
 */
export async function runDemo(): Promise<number> {
  const { startKubeApi } = await import('../../test/standins/kube-api/index.ts');
  const { startAwsApi } = await import('../../test/standins/aws-api/index.ts');
  const kubeApi = await startKubeApi({ namespaces: ['default', 'bookinfo'] });
  const aws = await startAwsApi({ region: 'us-west-2' });
  const dir = mkdtempSync(join(tmpdir(), 'vm-registrar-demo-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    kubeApi.writeKubeconfig(kubeconfig);
    Object.assign(process.env, aws.env(), {
      KUBECONFIG: kubeconfig,
      ALLOWED_NAMESPACES: 'bookinfo',
      AWS_REGION: 'us-west-2',
      COMPLETE_LIFECYCLE_ACTIONS: 'true',
    });
    delete process.env.CLUSTER_NAME;
    log(`Kubernetes API stand-in: ${kubeApi.url}   EC2/Auto Scaling stand-in: ${aws.url}`);

    kubeApi.seed({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadGroup',
      metadata: { name: 'reviews', namespace: 'bookinfo' },
      spec: {
        metadata: { labels: { app: 'reviews', version: 'v1' } },
        template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
      },
    });
    // Seeded, not applied: the registrar only reads groups; a cluster admin creates them.
    log('seeded WorkloadGroup bookinfo/reviews (ports http:9080, serviceAccount reviews)');

    const ids = ['i-0a1b2c3d4e5f60001', 'i-0a1b2c3d4e5f60002', 'i-0a1b2c3d4e5f60003'];
    const zones = ['us-west-2a', 'us-west-2b', 'us-west-2c'];
    for (const [i, id] of ids.entries()) {
      aws.putInstance({
        instanceId: id,
        state: 'running',
        privateIpAddress: `10.0.${i + 1}.${10 + i}`,
        availabilityZone: zones[i]!,
        launchTime: new Date(Date.UTC(2026, 10, 26, 9, i)).toISOString(),
        tags: {
          'istio-vm/workload-group': 'bookinfo/reviews',
          'aws:autoscaling:groupName': 'my-asg',
          Name: `reviews-${i + 1}`,
        },
      });
      aws.addLifecycleAction({
        autoScalingGroupName: 'my-asg',
        lifecycleHookName: LAUNCH_HOOK,
        instanceId: id,
        token: `launch-token-${i + 1}`,
        transition: 'launching',
      });
    }

    const { handler } = await import('../../functions/registrar/handler.ts');
    const { toLambdaEvent } = await import('./replay.ts');
    const { createApp } = await import('../app/wiring.ts');
    const app = createApp();
    const send = async (label: string, bodies: string[]) => {
      const event = toLambdaEvent('', 'x') as { Records: Array<Record<string, unknown>> };
      const template = event.Records[0]!;
      const batch = { Records: bodies.map((body, i) => ({ ...template, messageId: `${label}-${i}`, body })) };
      const response = (await handler(batch, cliContext())) as SQSBatchResponse;
      log(`\n${label}: ${bodies.length} events, ${response.batchItemFailures.length} failed`);
    };
    const showEntries = async () => {
      const entries = [];
      for await (const page of app.kube.listManagedEntries('bookinfo')) entries.push(...page);
      log(renderTable(ENTRY_HEADERS, entryRows(entries)));
    };

    await send(
      'scale-out (lifecycle action, launch successful, state-change running for 3 instances)',
      ids.flatMap((id, i) => [
        sample('asg-ec2-instance-launch-lifecycle-action.json', id, {
          hook: LAUNCH_HOOK,
          token: `launch-token-${i + 1}`,
        }),
        sample('asg-ec2-instance-launch-successful.json', id),
        stateChange(id, 'running'),
      ]),
    );
    await showEntries();
    log(
      `lifecycle actions completed: ${aws.completedLifecycleActions().length} (3 launches, hook ${LAUNCH_HOOK})`,
    );

    const before = kubeApi.stats().writes;
    await send(
      'replay of the same scale-out',
      ids.map((id) => stateChange(id, 'running')),
    );
    log(`writes made by the replay: ${kubeApi.stats().writes - before} (converged: nothing to do)`);

    const leaving = ids[2]!;
    // What Auto Scaling reports while a terminate hook holds the instance.
    aws.putInstance({ ...aws.instance(leaving)!, autoScalingLifecycleState: 'Terminating:Wait' });
    aws.addLifecycleAction({
      autoScalingGroupName: 'my-asg',
      lifecycleHookName: TERMINATE_HOOK,
      instanceId: leaving,
      token: 'terminate-token',
      transition: 'terminating',
    });
    await send(`scale-in: terminate lifecycle action for ${leaving}`, [
      sample('asg-ec2-instance-terminate-lifecycle-action.json', leaving, {
        hook: TERMINATE_HOOK,
        token: 'terminate-token',
      }),
    ]);
    aws.setState(leaving, 'terminated');
    await send(`scale-in: ${leaving} terminated`, [
      stateChange(leaving, 'terminated'),
      sample('asg-ec2-instance-terminate-successful.json', leaving),
    ]);
    await showEntries();
    log(`lifecycle actions completed: ${aws.completedLifecycleActions().length} (3 launches, 1 termination)`);

    const { Reconciler } = await import('../app/reconciler.ts');
    const { logger, telemetry } = await import('../observability.ts');
    const summary = await new Reconciler({ ...app, logger, telemetry }).run({ dryRun: true });
    log(
      `\nreconcile --dry-run: ${summary.converged ? 'converged' : 'drift found'} ` +
        `(${summary.totals.unchanged} unchanged, ${summary.changes.length} changes planned)`,
    );
    return summary.converged ? EXIT.ok : EXIT.errors;
  } finally {
    await kubeApi.close();
    await aws.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
