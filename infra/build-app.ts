/**
 * Wires the stacks from the CDK context. `infra/app.ts` runs it for `cdk synth/deploy`; the infra
 * tests run it on their own App so they test exactly what gets deployed.
 */
import { Duration, Tags } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { type AppSettings, readSettings } from './context.ts';
import { GatewayNetworkingStack } from './stacks/gateway-networking-stack.ts';
import { RegistrarStack } from './stacks/registrar-stack.ts';

export interface IstioVmRegistrarApp {
  readonly settings: AppSettings;
  readonly registrarStack?: RegistrarStack;
  readonly gatewayStack?: GatewayNetworkingStack;
}

/** Adds the stacks the context asks for to `app` (an App or a Stage). */
export function buildApp(app: Construct): IstioVmRegistrarApp {
  const settings = readSettings(app.node);
  const env = settings.env ? { env: settings.env } : {};
  let registrarStack: RegistrarStack | undefined;
  let gatewayStack: GatewayNetworkingStack | undefined;

  if (settings.deployRegistrar) {
    registrarStack = new RegistrarStack(app, `${settings.stackNamePrefix}Registrar`, {
      ...env,
      registrar: {
        clusterName: settings.clusterName,
        allowedNamespaces: settings.allowedNamespaces,
        ...pick(settings, [
          'clusterEndpoint',
          'tagPrefix',
          'stoppedInstancePolicy',
          'completeLifecycleActions',
          'kubeConcurrency',
          'reconcileMaxDeleteRatio',
          'logLevel',
          'batchSize',
          'maxConcurrency',
          'maxReceiveCount',
          'reconcileScheduleEnabled',
        ]),
        ...(settings.clusterCaData ? { clusterCertificateAuthorityData: settings.clusterCaData } : {}),
        ...(settings.logRetentionDays !== undefined
          ? { logRetention: retentionDays(settings.logRetentionDays) }
          : {}),
        ...(settings.maxBatchingWindowSeconds !== undefined
          ? { maxBatchingWindow: Duration.seconds(settings.maxBatchingWindowSeconds) }
          : {}),
        ...(settings.reconcileSchedule
          ? { reconcileSchedule: scheduleExpression(settings.reconcileSchedule) }
          : {}),
      },
      autoScalingGroupNames: settings.autoScalingGroupNames,
      createLifecycleHooks: settings.createLifecycleHooks,
      ...(settings.functionsInVpc && settings.clusterVpc ? { functionsVpc: settings.clusterVpc } : {}),
      ...pick(settings, [
        'clusterSecurityGroupId',
        'kubernetesGroup',
        'applyRbac',
        'kubectlRoleArn',
        'alarmTopicArn',
        'dashboardName',
        'queueSenderRoleArns',
      ]),
    });
  }

  if (settings.deployGateway && settings.clusterVpc) {
    gatewayStack = new GatewayNetworkingStack(app, `${settings.stackNamePrefix}Gateway`, {
      ...env,
      architecture: settings.architecture,
      clusterVpc: settings.clusterVpc,
      ...(settings.vmVpc ? { vmVpc: settings.vmVpc } : {}),
      vmSecurityGroupIds: settings.vmSecurityGroupIds,
      ...(settings.endpointAllowedPrincipals
        ? { endpointAllowedPrincipals: settings.endpointAllowedPrincipals }
        : {}),
      gateway: {
        ...pick(settings, ['hostedZoneName', 'istiodRecordName', 'crossZoneEnabled']),
        ...(settings.endpointAcceptanceRequired !== undefined
          ? { acceptanceRequired: settings.endpointAcceptanceRequired }
          : {}),
      },
    });
  }

  Tags.of(app).add('app.kubernetes.io/part-of', 'istio-vm-registrar');
  return {
    settings,
    ...(registrarStack ? { registrarStack } : {}),
    ...(gatewayStack ? { gatewayStack } : {}),
  };
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

function scheduleExpression(expression: string): ScheduleExpression {
  if (!/^(rate|cron|at)\(.+\)$/.test(expression)) {
    throw new Error(`reconcileSchedule: "${expression}" is not a rate(...), cron(...) or at(...) expression`);
  }
  return ScheduleExpression.expression(expression);
}

function retentionDays(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter(
    (value): value is number => typeof value === 'number',
  );
  if (!allowed.includes(days)) {
    throw new Error(`logRetentionDays: ${days} is not a CloudWatch Logs retention (${allowed.join(', ')})`);
  }
  return days as logs.RetentionDays;
}
