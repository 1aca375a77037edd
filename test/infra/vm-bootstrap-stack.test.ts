import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { VmBootstrap } from '../../infra/constructs/vm-bootstrap.ts';
import type { VmBootstrapStack } from '../../infra/stacks/vm-bootstrap-stack.ts';
import { parseBootstrapGroup } from '../../shared/config/bootstrap-config.ts';
import { METRICS_NAMESPACE, Metric } from '../../shared/constants.ts';
import { renderBootstrapRbacManifests } from '../../shared/manifests/bootstrap-rbac.ts';
import {
  annotationMessages,
  buildTestApp,
  getAtt,
  logicalId,
  nagFindings,
  pseudoArn,
  roleStatements,
  type SynthesisedApp,
} from './helpers.ts';

const ROLE = 'arn:aws:iam::123456789012:role/reviews-vm';
const CONTEXT = {
  bootstrapGroups: 'bookinfo/reviews:reviews,payments/ledger:ledger',
  bootstrapInstanceRoleArns: `bookinfo/reviews=${ROLE}`,
  istioVersion: '1.26.2',
};
const parameter = (group: string, name: string) =>
  pseudoArn('ssm', `parameter/istio-vm-registrar/bootstrap/${group}/${name}`);

let built: SynthesisedApp;
let stack: VmBootstrapStack;
let template: Template;

beforeAll(() => {
  built = buildTestApp(CONTEXT);
  stack = built.bootstrapStack!;
  template = Template.fromStack(stack);
});

type Statement = {
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};
const allStatements = (): Array<Statement & { roles: unknown }> =>
  Object.values(
    template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
  )
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((r) =>
      (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement.map((s) => ({
        ...s,
        roles: r.Properties.Roles,
      })),
    );

describe('VmBootstrapStack (cdk.json + bootstrapGroups)', () => {
  it('is cdk-nag clean with no warnings', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(annotationMessages(stack)).toEqual([]);
  });

  it('configures the function from the context, istiod by the gateway stack name, the VM VPC resolving the zone', () => {
    const fn = template.findResources('AWS::Lambda::Function');
    const env = (Object.values(fn)[0]!.Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env).toMatchObject({
      CLUSTER_NAME: 'mesh',
      BOOTSTRAP_GROUPS: 'bookinfo/reviews:reviews,payments/ledger:ledger',
      BOOTSTRAP_PARAMETER_PREFIX: '/istio-vm-registrar/bootstrap',
      BOOTSTRAP_TOKEN_LIFETIME_SECONDS: '86400',
      BOOTSTRAP_REFRESH_INTERVAL_SECONDS: '3600',
      BOOTSTRAP_ISTIO_VERSION: '1.26.2',
      BOOTSTRAP_ARCHITECTURE: 'single-network',
      BOOTSTRAP_ZONE_VPC_IDS: 'vpc-0f1e2d3c4b5a69788',
      BOOTSTRAP_KMS_KEY_ID: getAtt(stack.bootstrap.key),
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    });
    // A cross-stack reference to the gateway stack's NLB name.
    expect(JSON.stringify(env.BOOTSTRAP_GATEWAY_DNS_NAME)).toContain(built.gatewayStack!.stackName);
    expect(Object.values(fn)[0]!.Properties.ReservedConcurrentExecutions).toBe(1);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: { Input: '{}', RetryPolicy: { MaximumRetryAttempts: 2 } },
    });
  });

  it("lets the function write only the opted-in groups' parameters and encrypt only their tokens, through SSM", () => {
    const statements = roleStatements(template, logicalId(stack.bootstrap.function.role!));
    const bySid = Object.fromEntries(statements.filter((s) => s.Sid).map((s) => [s.Sid, s]));
    const files = [
      'bootstrap.env',
      'cluster.env',
      'hosts',
      'istio-token',
      'istio-token-expiry',
      'mesh.yaml',
      'root-cert.pem',
    ];
    expect(bySid.WriteGroupParameters?.Resource).toEqual(
      ['bookinfo/reviews', 'payments/ledger'].flatMap((g) => files.map((f) => parameter(g, f))),
    );
    expect(bySid.ReadGroupPaths).toMatchObject({
      Action: 'ssm:GetParametersByPath',
      Resource: [
        pseudoArn('ssm', 'parameter/istio-vm-registrar/bootstrap/bookinfo/reviews'),
        pseudoArn('ssm', 'parameter/istio-vm-registrar/bootstrap/payments/ledger'),
      ],
    });
    expect(bySid.EncryptTokens).toMatchObject({
      Action: 'kms:Encrypt',
      Resource: getAtt(stack.bootstrap.key),
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Join': ['', ['ssm.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          'kms:EncryptionContext:PARAMETER_ARN': [
            parameter('bookinfo/reviews', 'istio-token'),
            parameter('payments/ledger', 'istio-token'),
          ],
        },
      },
    });
    expect(statements.some((s) => JSON.stringify(s.Action).includes('kms:Decrypt'))).toBe(false);
  });

  it("gives a group's instance role its own parameters and its own token's decryption, nothing more", () => {
    const instance = allStatements().filter(
      (s) => JSON.stringify(s.roles) === JSON.stringify(['reviews-vm']),
    );
    expect(instance).toEqual([
      {
        Action: 'ssm:GetParameter',
        Effect: 'Allow',
        Resource: ['bootstrap.env', 'cluster.env', 'hosts', 'istio-token', 'mesh.yaml', 'root-cert.pem'].map(
          (f) => parameter('bookinfo/reviews', f),
        ),
        roles: ['reviews-vm'],
      },
      {
        Action: 'kms:Decrypt',
        Effect: 'Allow',
        Resource: getAtt(stack.bootstrap.key),
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['ssm.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
            'kms:EncryptionContext:PARAMETER_ARN': parameter('bookinfo/reviews', 'istio-token'),
          },
        },
        roles: ['reviews-vm'],
      },
    ]);
    // No statement anywhere decrypts without the parameter condition.
    for (const s of allStatements().filter((s) => JSON.stringify(s.Action).includes('kms:Decrypt'))) {
      expect(s.Condition?.StringEquals?.['kms:EncryptionContext:PARAMETER_ARN']).toBeDefined();
    }
  });

  it('maps the function role to its own Kubernetes group', () => {
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'mesh',
      KubernetesGroups: ['istio-vm-registrar-bootstrap'],
      PrincipalArn: getAtt(stack.bootstrap.function.role!),
    });
  });

  it('alarms on failed, late and expired refreshes, a low or missing token, errors and dead letters', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    expect(alarms).toHaveLength(6);
    const named = (metric: string) => alarms.find((a) => JSON.stringify(a).includes(metric));
    expect(named(Metric.BootstrapRefreshFailed)).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(named(Metric.BootstrapTokenLate)).toMatchObject({
      MetricName: Metric.BootstrapTokenLate,
      Period: 3600,
    });
    expect(named(Metric.BootstrapTokenExpired)).toMatchObject({
      MetricName: Metric.BootstrapTokenExpired,
      Threshold: 0,
    });
    expect(named(Metric.BootstrapTokenSecondsLeft)).toMatchObject({
      Statistic: 'Minimum',
      Threshold: 21_600,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 3,
      TreatMissingData: 'breaching',
    });
  });
});

describe('VmBootstrap construct', () => {
  const make = (props: Partial<ConstructorParameters<typeof VmBootstrap>[2]> = {}) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S');
    return new VmBootstrap(stack, 'Bootstrap', {
      clusterName: 'mesh',
      groups: [{ group: 'bookinfo/reviews:reviews' }],
      istioVersion: '1.26.2',
      gatewayDnsName: 'internal-gw.elb.us-west-2.amazonaws.com',
      ...props,
    });
  };

  it('refuses at synth what the function would refuse at init, naming the construct', () => {
    expect(() => make({ refreshInterval: Duration.hours(7) })).toThrow(
      /^VmBootstrap \(S\/Bootstrap\): invalid configuration: BOOTSTRAP_REFRESH_INTERVAL_SECONDS: 25200 must be at most a quarter/,
    );
    expect(() => make({ istioVersion: 'latest' })).toThrow(/BOOTSTRAP_ISTIO_VERSION/);
    expect(() => make({ groups: [] })).toThrow(/groups must name at least one WorkloadGroup/);
  });

  it('hands launch templates the user-data of a group, and grants more roles on request', () => {
    const bootstrap = make();
    expect(bootstrap.userData('bookinfo/reviews').render()).toContain(
      "PARAMETER_PATH='/istio-vm-registrar/bootstrap/bookinfo/reviews'",
    );
    expect(() => bootstrap.userData('bookinfo/ratings')).toThrow(/not one of the bootstrap groups/);
    const role = new iam.Role(Stack.of(bootstrap), 'Other', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
    });
    bootstrap.grantRead('bookinfo/reviews', role);
    const statements = roleStatements(Template.fromStack(Stack.of(bootstrap)), logicalId(role));
    expect(statements.map((s) => s.Action)).toEqual(['ssm:GetParameter', 'kms:Decrypt']);
  });

  it('renders the RBAC the applyRbac path applies: the bootstrap Roles', () => {
    expect(make().rbacManifests()).toEqual(
      renderBootstrapRbacManifests({ groups: [parseBootstrapGroup('bookinfo/reviews:reviews')] }),
    );
  });
});

describe('Context: bootstrap keys', () => {
  it('needs istioVersion with bootstrapGroups, and role ARNs only for those groups', () => {
    expect(() => buildTestApp({ bootstrapGroups: 'bookinfo/reviews' })).toThrow(
      /istioVersion: required with bootstrapGroups/,
    );
    expect(() => buildTestApp({ ...CONTEXT, bootstrapInstanceRoleArns: `bookinfo/ratings=${ROLE}` })).toThrow(
      /bootstrapInstanceRoleArns: bookinfo\/ratings is not in bootstrapGroups/,
    );
  });
});
