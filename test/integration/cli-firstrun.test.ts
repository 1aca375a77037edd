import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, shell } from './cli-process.ts';

describe('The first hour: install, bench, synth', () => {
  it('the CLI entry is committed executable, so npm linking its bin leaves git status clean', () => {
    const staged = execFileSync('git', ['ls-files', '-s', 'shared/cli/bin.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(staged).toMatch(/^100755 /);
    expect(statSync(join(ROOT, 'shared/cli/bin.ts')).mode & 0o111).not.toBe(0);
  });

  it('npm checks the root against devEngines (the Node that runs npm), not the runtime engines', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
      devEngines: { runtime: { name: string; version: string; onFail: string } };
      devDependencies: Record<string, string>;
      dependencies: Record<string, string>;
    };
    // The functions and every npm script run on the pinned Node 24 ...
    expect(pkg.engines.node).toBe('>=24 <25');
    expect(pkg.devDependencies.node).toMatch(/^24\./);
    // ... while npm itself may run on any supported Node: a warning there would signal nothing.
    expect(pkg.devEngines.runtime).toEqual({ name: 'node', version: '>=20', onFail: 'warn' });
    expect(pkg.dependencies.commander).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('npm run bench -- bogus is a usage error, not an empty table', async () => {
    const out = await shell('npm run -s bench -- bogus');
    expect(out.code).toBe(64);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(
      'bench: unknown section "bogus" (sections: singleEvent, burst, servicesBurst, notificationsBurst, reconcileAtScale, faults, coldStart)\n',
    );
  });

  // Three CDK processes: well over a minute on a loaded two-core machine.
  it('bad CDK context prints its message alone and exits non-zero, from the app and from cdk synth', {
    timeout: 240_000,
  }, async () => {
    const message =
      'istio-vm-registrar CDK context (cdk.json or -c): architecture: "bogus" is not one of single-network, multi-network\n';
    const direct = await shell('node infra/app.ts -c architecture=bogus');
    expect(direct.code).toBe(1);
    expect(direct.stderr).toBe(message);
    const props = await shell('node infra/app.ts -c maxConcurrency=1');
    expect(props.code).toBe(1);
    expect(props.stderr).toMatch(
      /^Registrar \(IstioVmRegistrar\/Registrar\): invalid configuration: maxConcurrency 1 .*\n$/,
    );
    const out = mkdtempSync(join(tmpdir(), 'vm-registrar-synth-'));
    try {
      const synth = await shell(`npx cdk synth -q -c architecture=bogus -o ${out}`);
      expect(synth.code).not.toBe(0);
      expect(synth.stderr).toContain(message);
      expect(synth.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
