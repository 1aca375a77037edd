import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleHandler, entryPath } from '../../infra/bundling.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { sqsEvent, stateChange } from '../helpers/fixtures.ts';
import { type Harness, instance, reviewsGroup, startHarness } from '../helpers/harness.ts';
import { patchGroup, service, slices } from '../helpers/services.ts';

/** The deployed artefact, not the sources: the esbuild bundle (undici shimmed) against the stand-ins. */
describe('Bundle: the registrar as deployed', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    h = await startHarness();
    h.kube.seed(reviewsGroup());
    dir = mkdtempSync(join(tmpdir(), 'vm-registrar-bundle-test-'));
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('converges an event through the bundled handler', async () => {
    const outfile = join(dir, 'registrar.mjs');
    const result = await bundleHandler(entryPath('registrar'), outfile);
    const replaced = [
      'undici',
      'socks',
      'hpagent',
      'openid-client',
      'jsonpath-plus',
      'tar-fs',
      'isomorphic-ws',
    ];
    for (const name of replaced) {
      expect(
        Object.keys(result.metafile.inputs).some((f) => f.includes(`node_modules/${name}/`)),
        name,
      ).toBe(false);
    }
    // What the plugins leave out (infra/bundle-plugins.ts): the EC2 schemas of operations never
    // called, the client-node models no API in use (de)serializes, ES module imports of built-ins.
    const code = readFileSync(outfile, 'utf8');
    expect(code).toContain('"DescribeInstancesRequest"');
    expect(code).not.toContain('"RunInstancesRequest"');
    expect(code).toMatch(/\bV1OwnerReference\b/);
    expect(code).not.toMatch(/\bV1PodSpec\b/);
    expect(code).not.toMatch(/from\s*"(node:)?https?"/);
    const { handler } = (await import(pathToFileURL(outfile).href)) as {
      handler: (e: unknown, c: unknown) => Promise<{ batchItemFailures: unknown[] }>;
    };
    h.aws.putInstance(instance('i-0000000000000bb01'));
    const response = await handler(sqsEvent([stateChange('i-0000000000000bb01', 'running')]), cliContext());
    expect(response).toEqual({ batchItemFailures: [] });
    expect(h.entries().map((e) => e.metadata.name)).toEqual(['reviews-i-0000000000000bb01']);
  });

  it('sweeps through the bundled reconciler', async () => {
    const outfile = join(dir, 'reconciler.mjs');
    await bundleHandler(entryPath('reconciler'), outfile);
    const { handler } = (await import(pathToFileURL(outfile).href)) as {
      handler: (e: unknown, c: unknown) => Promise<{ totals: Record<string, number>; converged: boolean }>;
    };
    h.aws.putInstance(instance('i-0000000000000bb02'));
    const summary = await handler({ dryRun: true }, cliContext());
    expect(summary.totals).toMatchObject({ create: 1, unchanged: 1 });
  });

  it('keeps a Service and direct EndpointSlices through the bundled functions (client-node trimmed to the calls made)', async () => {
    // Prepare
    const registrar = join(dir, 'registrar.mjs');
    const reconciler = join(dir, 'reconciler.mjs');
    const bundled = async (file: string) =>
      ((await import(pathToFileURL(file).href)) as { handler: (e: unknown, c: unknown) => Promise<unknown> })
        .handler;
    await patchGroup(h.kube, {
      annotations: {
        'istio-vm-registrar.io/service': 'service',
        'istio-vm-registrar.io/direct-endpoints': 'true',
      },
    });
    for (const n of [3, 4]) h.aws.putInstance(instance(`i-0000000000000bb0${n}`));

    // Act: the event path registers, the sweep converges the rest, then a termination.
    await (await bundled(registrar))(sqsEvent([stateChange('i-0000000000000bb03', 'running')]), cliContext());
    const sweep = (await (await bundled(reconciler))({}, cliContext())) as { errors: string[] };
    h.aws.setState('i-0000000000000bb03', 'terminated');
    await (await bundled(registrar))(
      sqsEvent([stateChange('i-0000000000000bb03', 'terminated')]),
      cliContext(),
    );

    // Assess
    expect(sweep.errors).toEqual([]);
    expect(service(h.kube, 'reviews')?.spec.selector).toMatchObject({ app: 'reviews' });
    expect(service(h.kube, 'reviews-direct')).toBeDefined();
    const addresses = slices(h.kube).flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
    expect(addresses.sort()).toEqual(
      ['i-0000000000000bb01', 'i-0000000000000bb02', 'i-0000000000000bb04']
        .map((i) => instance(i).privateIpAddress)
        .sort(),
    );
  });
});
