/**
 * Shared by the infra tests: build the real app (infra/build-app.ts) from cdk.json's context plus
 * overrides, with cdk-nag registered exactly as infra/app.ts does, and small readers for templates.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildApp, type IstioVmRegistrarApp } from '../../infra/build-app.ts';
import { PROJECT_ROOT } from '../../infra/bundling.ts';

export const CDK_JSON_CONTEXT: Readonly<Record<string, unknown>> = (
  JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

export interface SynthOptions {
  /** Run esbuild for the functions (slow); otherwise assets are placeholders. @default false */
  readonly bundling?: boolean;
}

export interface SynthesisedApp extends IstioVmRegistrarApp {
  readonly app: App;
}

/** The app as `cdk synth` builds it, with `overrides` on top of cdk.json's context. */
export function buildTestApp(
  overrides: Record<string, unknown> = {},
  options: SynthOptions = {},
): SynthesisedApp {
  const app = new App({
    context: {
      ...CDK_JSON_CONTEXT,
      ...overrides,
      // Bundle no stack unless asked: an empty list means "skip bundling everywhere".
      ...(options.bundling ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  const built = buildApp(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, ...built };
}

/** Unacknowledged AwsSolutions findings anywhere under `scope`, as "rule at path" strings. */
export function nagFindings(scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks().validateScope(scope);
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map(
      (resource) =>
        `${violation.ruleName} at ${(resource as { constructPath?: string }).constructPath ?? '?'}`,
    ),
  );
}

/** CDK warnings and errors (annotations) left on a stack after acknowledgements. */
export function annotationMessages(stack: Stack): string[] {
  const annotations = Annotations.fromStack(stack);
  return [
    ...annotations.findWarning('*', Match.anyValue()),
    ...annotations.findError('*', Match.anyValue()),
  ].map((message) => `${message.id}: ${JSON.stringify(message.entry.data)}`);
}

/** Logical id of a construct's CloudFormation resource. */
export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).getLogicalId(element);
}

/** `{ "Fn::GetAtt": [id, "Arn"] }` */
export function getAtt(construct: IConstruct, attribute = 'Arn'): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [logicalId(construct), attribute] };
}

/** `{ Ref: id }` */
export function ref(construct: IConstruct): { Ref: string } {
  return { Ref: logicalId(construct) };
}

/** arn:${AWS::Partition}:... written the way CDK renders Stack.formatArn for an env-agnostic stack. */
export function pseudoArn(service: string, rest: string, options: { region?: boolean } = {}): unknown {
  return {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        `:${service}:`,
        ...(options.region === false ? [] : [{ Ref: 'AWS::Region' }]),
        ':',
        { Ref: 'AWS::AccountId' },
        `:${rest}`,
      ],
    ],
  };
}

type Statement = Record<string, unknown>;

/** Statements of the identity policies attached to a role (by the role's logical id). */
export function roleStatements(template: { toJSON(): unknown }, roleLogicalId: string): Statement[] {
  const resources = (
    template.toJSON() as { Resources: Record<string, { Type: string; Properties: Statement }> }
  ).Resources;
  return Object.values(resources)
    .filter(
      (resource) =>
        resource.Type === 'AWS::IAM::Policy' &&
        (resource.Properties.Roles as unknown[]).some(
          (role) => JSON.stringify(role) === JSON.stringify({ Ref: roleLogicalId }),
        ),
    )
    .flatMap((resource) => (resource.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** Every fixture file in test/fixtures/aws-events that is one EventBridge event (has a detail-type). */
export function eventFixtures(): Array<{ file: string; event: Record<string, unknown> }> {
  const dir = path.join(PROJECT_ROOT, 'test/fixtures/aws-events');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({
      file,
      event: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>,
    }))
    .filter(({ event }) => typeof event['detail-type'] === 'string');
}
