import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { AWS_EVENTS, stateChange } from '../helpers/fixtures.ts';
import { instance, useHarness } from '../helpers/harness.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'shared', 'cli', 'bin.ts');

/** Runs the CLI in a child process with the harness's environment; resolves with code and output. */
async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

describe('CLI: vm-registrar', () => {
  const h = useHarness();

  it('replay feeds a verbatim sample through the handler and prints the entries', async () => {
    h.aws.putInstance(instance('i-abcd1111'));
    const out = await cli(['replay', join(AWS_EVENTS, 'ec2-instance-state-change-pending.json')]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/bookinfo\s+reviews-i-abcd1111\s+10\.0\.7\.\d+\s+us-west-2\/us-west-2b/);
  });

  it('reconcile --dry-run plans, writes nothing, and prints JSON on request', async () => {
    h.aws.putInstance(instance(id(1)));
    const before = h.kube.stats().writes;
    const out = await cli(['reconcile', '--dry-run', '--output', 'json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ dryRun: true, totals: { create: 1 } });
    expect(h.kube.stats().writes).toBe(before);
  });

  it('reconcile exits 2 on a safety stop and 0 once forced; status shows what is out of step', async () => {
    for (let n = 1; n <= 4; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3, 4].map((n) => stateChange(id(n), 'running')));
    for (let n = 1; n <= 3; n++) h.aws.removeInstance(id(n));
    const status = await cli(['status']);
    expect(status.stdout).toMatch(/stale \(delete withheld\)/);
    expect(status.stdout).toMatch(/3 out of step/);
    const stopped = await cli(['reconcile']);
    expect(stopped.code).toBe(2);
    expect(stopped.stdout).toMatch(/SAFETY STOP bookinfo\/reviews/);
    const forced = await cli(['reconcile', '--force']);
    expect(forced.code).toBe(0);
    expect(h.entries()).toHaveLength(1);
  });

  it('reconcile exits 1 with errors, and 64 on a bad flag', async () => {
    h.aws.setFaults({ ec2ThrottleRate: 1 });
    expect((await cli(['reconcile'])).code).toBe(1);
    expect((await cli(['reconcile', '--output', 'xml'])).code).toBe(64);
  });

  it('rbac and manifests gateway print valid multi-document YAML', async () => {
    const rbac = await cli(['rbac', '--namespace', 'bookinfo']);
    const kinds = loadAll(rbac.stdout).map((o) => (o as { kind: string }).kind);
    expect(kinds).toEqual(['Role', 'RoleBinding']);
    const gw = await cli(['manifests', 'gateway', '--network', 'vm-net', '--multi-network']);
    expect(gw.code).toBe(0);
    const gateways = loadAll(gw.stdout).filter((o) => (o as { kind: string }).kind === 'Gateway');
    expect(JSON.stringify(gateways)).toContain('AUTO_PASSTHROUGH');
  });

  it('replay reports a failed record with exit code 1', async () => {
    h.aws.putInstance(instance(id(9)));
    h.kube.setFaults({ failureRate: 1, kinds: [503], seed: 1 });
    const file = join(process.env.KUBECONFIG!, '..', 'event.json');
    writeFileSync(file, stateChange(id(9), 'running'));
    const out = await cli(['replay', file]);
    h.kube.setFaults(undefined);
    expect(out.code).toBe(1);
  });
});
