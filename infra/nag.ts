/**
 * cdk-nag v3 acknowledgements are per finding (`AwsSolutions-IAM5[Resource::<flattened ARN>]`), so
 * the finding id of a wildcard resource has to be spelled exactly as cdk-nag flattens it. These
 * helpers do that from the value itself, so an acknowledgement follows the resource it is about.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** A CloudFormation value flattened the way cdk-nag names findings (`<Ref>`, `<Id.Attr>`, joins). */
export function flattenForNag(scope: IConstruct, value: unknown): string {
  const visit = (node: unknown): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
    if (typeof node === 'object' && node !== null) {
      const record = node as Record<string, unknown>;
      if (Array.isArray(record['Fn::Join'])) {
        const [delimiter, items] = record['Fn::Join'] as [string, unknown[]];
        return items.map(visit).join(delimiter);
      }
      if (Array.isArray(record['Fn::GetAtt'])) {
        const [resource, attribute] = record['Fn::GetAtt'] as [unknown, unknown];
        return `<${visit(resource)}.${visit(attribute)}>`;
      }
      if ('Ref' in record) return `<${visit(record.Ref)}>`;
    }
    return JSON.stringify(node);
  };
  return visit(Stack.of(scope).resolve(value));
}

/** Acknowledges the IAM5 finding for one wildcard resource of `scope`'s policies, with a reason. */
export function acknowledgeWildcardResource(scope: IConstruct, resource: unknown, reason: string): void {
  Validations.of(scope).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${flattenForNag(scope, resource)}]`,
    reason,
  });
}
