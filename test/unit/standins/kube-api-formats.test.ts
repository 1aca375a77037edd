/**
 * OpenAPI formats in CRD schemas, as kube-openapi treats them: known ones are checked, unknown ones are
 * accepted unchecked; neither prints anything (a test run stays quiet).
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startKubeApi } from '#test/standins/kube-api/index.ts';

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: { kind: Gadget, listKind: GadgetList, plural: gadgets, singular: gadget }
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: { type: string, format: quantity }
              since: { type: string, format: date-time }
              format: { type: string }
`;

describe('Stand-in: Kubernetes API schema formats', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('accepts an unknown format unchecked, checks date-time, and prints no warning', async () => {
    // Prepare
    const warn = vi.spyOn(console, 'warn');
    const log = vi.spyOn(console, 'log');
    const dir = mkdtempSync(join(tmpdir(), 'kube-standin-formats-'));
    writeFileSync(join(dir, 'gadgets.yaml'), CRD);
    const kube = await startKubeApi({ crdDir: dir });
    const kc = new KubeConfig();
    kc.loadFromString(kube.kubeconfigYaml());
    const api = kc.makeApiClient(CustomObjectsApi);
    const at = { group: 'example.com', version: 'v1', namespace: 'default', plural: 'gadgets' };
    const body = (name: string, spec: Record<string, unknown>) => ({
      apiVersion: 'example.com/v1',
      kind: 'Gadget',
      metadata: { name },
      spec,
    });

    try {
      // Act
      await api.createNamespacedCustomObject({
        ...at,
        body: body('ok', { size: 'anything', since: '2026-01-01T00:00:00Z', format: 'x' }),
      });
      const bad = await api
        .createNamespacedCustomObject({ ...at, body: body('bad', { since: 'yesterday' }) })
        .then(
          () => undefined,
          (e: { code: number }) => e.code,
        );

      // Assess
      expect(kube.get('example.com/v1', 'Gadget', 'default', 'ok')?.spec).toEqual({
        size: 'anything',
        since: '2026-01-01T00:00:00Z',
        format: 'x',
      });
      expect(bad).toBe(422);
      expect(warn).not.toHaveBeenCalled();
      expect(log).not.toHaveBeenCalled();
    } finally {
      await kube.close();
    }
  });
});
