import { describe, expect, it } from 'vitest';
import { inlineSchemaKeys } from '../../../infra/bundle-plugins.ts';

describe('Function: inlineSchemaKeys()', () => {
  it('replaces computed keys naming a string constant with the string, and nothing else', () => {
    // Prepare: the shape of @aws-sdk/client-* dist-es/schemas/schemas_0.js.
    const source = [
      'const _xN = "xmlName";',
      'const _In = "Instance";',
      'const n0 = "com.amazonaws.ec2";',
      'export var Instance$ = [3, n0, _In, 0, [_In], [[0, { [_xN]: "instanceId" }], [0, {[_xN]:"x", [other]: 1}]]];',
      'const picked = table[_xN];',
    ].join('\n');

    // Act
    const out = inlineSchemaKeys(source);

    // Assess: the object keys are literals now; a lookup and an unknown name are left as they were.
    expect(out).toContain('[[0, { "xmlName": "instanceId" }], [0, {"xmlName":"x", [other]: 1}]]');
    expect(out).toContain('const picked = table[_xN];');
    expect(out).toContain('[3, n0, _In, 0, [_In]');
  });

  it('gives the same objects at run time', () => {
    const source = 'const _k = "key";\nexport const o = { [_k]: 1, b: { [_k]: 2 } };';
    const run = (code: string) => new Function(`${code.replace('export ', '')}; return o;`)();
    expect(run(inlineSchemaKeys(source))).toEqual(run(source));
  });
});
