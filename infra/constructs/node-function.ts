import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { AssetHashType, DockerImage, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type FunctionName, LAMBDA_NODE_OPTIONS, PROJECT_ROOT } from '../bundling.ts';

/**
 * Node.js 24 on Lambda. `Runtime.NODEJS_24_X` exists from aws-cdk-lib 2.22x; the fallback keeps
 * older libraries synthesising the same `nodejs24.x`.
 */
export const NODE_RUNTIME: lambda.Runtime =
  (lambda.Runtime as { NODEJS_24_X?: lambda.Runtime }).NODEJS_24_X ??
  new lambda.Runtime('nodejs24.x', lambda.RuntimeFamily.NODEJS, { supportsInlineCode: true });

export interface NodeFunctionProps {
  /** Which handler in `functions/` to bundle. */
  readonly name: FunctionName;
  readonly description: string;
  /** Environment variables (the functions' configuration, see shared/config/config.ts). */
  readonly environment: Readonly<Record<string, string>>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /**
   * Retention of the function's own log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Application log level of the Lambda JSON log format (Powertools reads POWERTOOLS_LOG_LEVEL).
   * @default lambda.ApplicationLogLevel.INFO
   */
  readonly applicationLogLevel?: lambda.ApplicationLogLevel;
  /**
   * VPC to run in (needed when the cluster's API endpoint is private).
   * @default - not in a VPC
   */
  readonly vpc?: IVpc;
  /** @default - the VPC's private subnets */
  readonly vpcSubnets?: SubnetSelection;
  /** @default - a new security group when `vpc` is set */
  readonly securityGroups?: readonly ISecurityGroup[];
  /** @default - no reserved concurrency */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * The handler's code: `functions/<name>/handler.ts` bundled by `infra/bundle.ts` on this machine
 * (esbuild with the plugins of infra/bundle-plugins.ts, which the esbuild command line that
 * NodejsFunction runs cannot load), into `index.mjs` and its source map. The asset hash is the
 * bundle's. The Docker image is never pulled: local bundling either succeeds or fails the synth.
 */
export function handlerCode(name: FunctionName): lambda.Code {
  const script = path.join(PROJECT_ROOT, 'infra', 'bundle.ts');
  return lambda.Code.fromAsset(PROJECT_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('local-bundling-only'),
      // Also what tells the two functions' assets apart in CDK's asset cache.
      command: ['node', 'infra/bundle.ts', name, '/asset-output'],
      local: {
        tryBundle(outputDir) {
          execFileSync(process.execPath, [script, name, outputDir], { cwd: PROJECT_ROOT, stdio: 'inherit' });
          return true;
        },
      },
    },
  });
}

/**
 * Creates a handler from `functions/<name>/handler.ts` with the project's defaults: Node.js 24 on
 * ARM64, X-Ray active tracing, JSON logs in its own log group with a retention, local esbuild
 * bundling ({@link handlerCode}), and its own role holding only what is granted to it (no AWS
 * managed policy: logging and VPC permissions are added inline).
 */
export function createNodeFunction(scope: Construct, id: string, props: NodeFunctionProps): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
    retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
  });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Execution role of the istio-vm-registrar ${props.name} function`,
  });
  const fn = new lambda.Function(scope, id, {
    code: handlerCode(props.name),
    handler: 'index.handler',
    runtime: NODE_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    description: props.description,
    timeout: props.timeout ?? Duration.seconds(30),
    memorySize: props.memorySize ?? 512,
    tracing: lambda.Tracing.ACTIVE,
    loggingFormat: lambda.LoggingFormat.JSON,
    applicationLogLevelV2: props.applicationLogLevel ?? lambda.ApplicationLogLevel.INFO,
    systemLogLevelV2: lambda.SystemLogLevel.WARN,
    logGroup,
    role,
    environment: { NODE_OPTIONS: LAMBDA_NODE_OPTIONS, ...props.environment },
    ...(props.vpc
      ? {
          vpc: props.vpc,
          ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
          ...(props.securityGroups ? { securityGroups: [...props.securityGroups] } : {}),
        }
      : {}),
    ...(props.reservedConcurrentExecutions !== undefined
      ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions }
      : {}),
  });

  // What AWSLambdaBasicExecutionRole would give, narrowed to this function's log group.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'WriteOwnLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
  );
  if (props.vpc) {
    // What AWSLambdaVPCAccessExecutionRole gives, inline. Lambda manages the function's network
    // interfaces with these and validates them against "*" when the function is created or updated
    // (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageVpcNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
  }
  return fn;
}
