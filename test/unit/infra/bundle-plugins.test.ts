import { describe, expect, it } from 'vitest';
import { inlineSchemaKeys, trimApiClasses } from '../../../infra/bundle-plugins.ts';

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

describe('Function: trimApiClasses()', () => {
  it('keeps the constructor and the methods named (with their WithHttpInfo twins), drops the rest', () => {
    // Prepare: the layout of @kubernetes/client-node's generated API classes.
    const source = [
      'export class PromiseCoreV1Api {',
      '    constructor(configuration) {',
      '        this.api = configuration;',
      '    }',
      '    readNamespacedServiceWithHttpInfo(name, namespace, _options) {',
      '        return this.api.readNamespacedServiceWithHttpInfo(name, namespace);',
      '    }',
      '    readNamespacedService(name, namespace, _options) {',
      '        return this.api.readNamespacedService(name, namespace);',
      '    }',
      '    async readNamespacedPod(name, namespace, _options) {',
      '        const result = { kind: "V1Pod" };',
      '        return result;',
      '    }',
      '}',
    ].join('\n');

    // Act
    const out = trimApiClasses(source, new Set(['readNamespacedService']));

    // Assess
    expect(out).toContain('constructor(configuration)');
    expect(out).toContain('readNamespacedServiceWithHttpInfo(name, namespace, _options) {');
    expect(out).toContain('readNamespacedService(name, namespace, _options) {');
    expect(out).not.toContain('readNamespacedPod');
    expect(out).not.toContain('V1Pod');
    expect(out.trimEnd().endsWith('}')).toBe(true);
  });
});
