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
import { RegistrarSpokeStack } from './stacks/spoke-stack.ts';
import { VmBootstrapStack } from './stacks/vm-bootstrap-stack.ts';

export interface IstioVmRegistrarApp {
  readonly settings: AppSettings;
  readonly registrarStack?: RegistrarStack;
  readonly gatewayStack?: GatewayNetworkingStack;
  readonly bootstrapStack?: VmBootstrapStack;
  /** The spoke template (context `deploySpoke`, default true). */
  readonly spokeStack?: RegistrarSpokeStack;
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
        ...(settings.spokes.length > 0 ? { spokes: settings.spokes } : {}),
        ...pick(settings, ['memberExternalId', 'memberRoleName', 'networkMap']),
      },
      ...pick(settings, ['organizationId']),
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
        'eventBusArn',
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

  const bootstrapStack =
    settings.bootstrapGroups.length > 0 ? buildBootstrap(app, settings, env, gatewayStack) : undefined;
  let spokeStack: RegistrarSpokeStack | undefined;
  if (settings.deploySpoke) {
    // Not for `cdk deploy` into this account: the template for StackSets (or `cdk deploy` with
    // --parameters) in every account/region the registrar serves. Defaults from the same context.
    spokeStack = new RegistrarSpokeStack(app, `${settings.stackNamePrefix}Spoke`, {
      ...(settings.spokeHubEventBusArn ? { hubEventBusArn: settings.spokeHubEventBusArn } : {}),
      ...(settings.spokeRegistrarRoleArns ? { registrarRoleArns: settings.spokeRegistrarRoleArns } : {}),
      ...pick(settings, ['memberRoleName', 'organizationId', 'tagPrefix']),
      ...(settings.memberExternalId ? { externalId: settings.memberExternalId } : {}),
    });
  }

  Tags.of(app).add('app.kubernetes.io/part-of', 'istio-vm-registrar');
  return {
    settings,
    ...(registrarStack ? { registrarStack } : {}),
    ...(gatewayStack ? { gatewayStack } : {}),
    ...(bootstrapStack ? { bootstrapStack } : {}),
    ...(spokeStack ? { spokeStack } : {}),
  };
}

/**
 * The VM bootstrap stack: istiod by the gateway stack's name (a cross-stack reference) unless
 * `bootstrapGatewayDnsName` says otherwise; the private zone's VPC (the VM VPC, or the cluster VPC for
 * single-network) resolves it without a hosts entry unless `bootstrapZoneVpcIds` says otherwise.
 */
function buildBootstrap(
  app: Construct,
  settings: AppSettings,
  env: { env?: { account: string; region: string } },
  gatewayStack: GatewayNetworkingStack | undefined,
): VmBootstrapStack {
  const zoneVpc = settings.vmVpc ?? settings.clusterVpc;
  return new VmBootstrapStack(app, `${settings.stackNamePrefix}Bootstrap`, {
    ...env,
    groups: settings.bootstrapGroups,
    instanceRoleArns: settings.bootstrapInstanceRoleArns,
    bootstrap: {
      clusterName: settings.clusterName,
      ...pick(settings, ['clusterEndpoint', 'logLevel']),
      ...(settings.clusterCaData ? { clusterCertificateAuthorityData: settings.clusterCaData } : {}),
      istioVersion: settings.istioVersion ?? '',
      gatewayDnsName: settings.bootstrapGatewayDnsName ?? gatewayStack?.gateway.gatewayAddress ?? '',
      zoneVpcIds: settings.bootstrapZoneVpcIds ?? (gatewayStack && zoneVpc ? [zoneVpc.vpcId] : []),
      architecture: settings.architecture,
      ...(settings.bootstrapClusterId ? { clusterId: settings.bootstrapClusterId } : {}),
      ...(settings.bootstrapControlPlaneNamespace
        ? { controlPlaneNamespace: settings.bootstrapControlPlaneNamespace }
        : {}),
      ...(settings.bootstrapTokenLifetimeHours !== undefined
        ? { tokenLifetime: Duration.hours(settings.bootstrapTokenLifetimeHours) }
        : {}),
      ...(settings.bootstrapRefreshMinutes !== undefined
        ? { refreshInterval: Duration.minutes(settings.bootstrapRefreshMinutes) }
        : {}),
      ...(settings.logRetentionDays !== undefined
        ? { logRetention: retentionDays(settings.logRetentionDays) }
        : {}),
    },
    ...(settings.functionsInVpc && settings.clusterVpc ? { functionsVpc: settings.clusterVpc } : {}),
    ...pick(settings, ['applyRbac', 'kubectlRoleArn', 'alarmTopicArn']),
  });
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
