import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { load } from 'js-yaml';

const FIXTURES = path.join(import.meta.dirname, '..', '..', 'fixtures');
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * The openAPIV3Schema of one version of a verbatim CRD fixture, compiled. The formats Kubernetes
 * uses are defined so that ajv checks them rather than warning that it does not know them.
 */
export function crdValidator(file: string, version: string): ValidateFunction {
  const crd = load(readFileSync(path.join(FIXTURES, file), 'utf8')) as {
    spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: object } }> };
  };
  const schema = crd.spec.versions.find((v) => v.name === version)?.schema.openAPIV3Schema;
  if (!schema) throw new Error(`${file} has no version ${version}`);
  return new Ajv({
    strict: false,
    allErrors: true,
    formats: {
      'date-time': RFC3339,
      int32: { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 },
      int64: { type: 'number', validate: (n: number) => Number.isInteger(n) },
    },
  }).compile(schema);
}

export const TARGET_GROUP_BINDING_CRD = 'aws-lbc-crds/elbv2.k8s.aws_targetgroupbindings.yaml';
