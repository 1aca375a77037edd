import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { instance, useHarness } from '../helpers/harness.ts';
import { cli, ROOT, shell } from './cli-process.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Every `vm-registrar` command line in the README's shell blocks, continuations joined. */
function readmeCommands(): string[] {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, ''));
  return blocks
    .flatMap((b) => b.split('\n'))
    .filter((line) => line.startsWith('npm run -s vm-registrar -- '))
    .map((line) =>
      line
        .replace(/\s+#.*$/, '')
        .replace(/\s*\|\s*kubectl apply -f -$/, '')
        .trim(),
    );
}

describe('README: every vm-registrar command it shows', () => {
  const h = useHarness();

  it('the quick start includes the sandbox', () => {
    const quickStart = README.slice(README.indexOf('## Quick start'), README.indexOf('## How it works'));
    expect(quickStart).toContain('npm run -s vm-registrar -- sandbox');
    expect(quickStart).toMatch(/Ctrl-C/);
  });

  // Each line starts npm and a Node process; on a loaded two-core machine the lot takes over a minute.
  it('runs as written against the stand-ins and exits 0', { timeout: 240_000 }, async () => {
    h.aws.putInstance(instance('i-abcd1111'));
    const commands = readmeCommands();
    expect(commands.length).toBeGreaterThan(10);
    // The sandbox runs until Ctrl-C (cli-sandbox.test.ts); placeholders are filled in cli-gateway.test.ts.
    const runnable = commands.filter((c) => !c.endsWith(' sandbox') && !c.includes('<'));
    for (const command of runnable) {
      const out = await shell(command);
      expect({ command, code: out.code, stderr: out.stderr }).toEqual({
        command,
        code: 0,
        stderr: out.stderr,
      });
      expect(out.stdout.length, command).toBeGreaterThan(0);
    }
    const flags = new Set(runnable.flatMap((c) => c.match(/--[a-z-]+/g) ?? []));
    for (const flag of [
      '--dry-run',
      '--force',
      '--namespace',
      '--group',
      '--summary',
      '--output',
      '--verbose',
    ]) {
      expect(flags).toContain(flag);
    }
  });

  it('documents every flag the CLI accepts', async () => {
    const commands = ['replay', 'reconcile', 'status', 'rbac', 'manifests gateway'];
    const helps = await Promise.all(commands.map((c) => cli([...c.split(' '), '--help'])));
    const cliSection = README.slice(README.indexOf('## CLI'), README.indexOf('## Troubleshooting'));
    for (const [i, help] of helps.entries()) {
      const flags = (help.stdout.match(/^\s+(--[a-z-]+)/gm) ?? [])
        .map((f) => f.trim())
        .filter((f) => f !== '--help');
      expect(flags.length, commands[i]).toBeGreaterThan(0);
      for (const flag of flags) expect(cliSection, `${commands[i]} ${flag}`).toContain(flag);
    }
  });
});
