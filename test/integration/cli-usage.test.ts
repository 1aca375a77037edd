import { describe, expect, it } from 'vitest';
import { cli } from './cli-process.ts';

const COMMANDS = [
  'demo',
  'sandbox',
  'replay',
  'reconcile',
  'status',
  'rbac',
  'manifests',
  'manifests gateway',
];

describe('CLI: usage', () => {
  it('--help, globally and per command, goes to stdout with exit 0', async () => {
    const runs = await Promise.all([
      cli(['--help']),
      ...COMMANDS.map((c) => cli([...c.split(' '), '--help'])),
    ]);
    const [global, ...perCommand] = runs;
    expect(global!.code).toBe(0);
    for (const c of COMMANDS.filter((c) => !c.includes(' '))) expect(global!.stdout).toContain(`  ${c}`);
    for (const [i, run] of perCommand.entries()) {
      expect(run.code, COMMANDS[i]).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.stdout).toContain(`Usage: vm-registrar ${COMMANDS[i]}`);
    }
    const reconcile = perCommand[COMMANDS.indexOf('reconcile')]!.stdout;
    for (const flag of ['--dry-run', '--force', '--namespace', '--group', '--summary', '--output']) {
      expect(reconcile).toContain(flag);
    }
    expect(perCommand[COMMANDS.indexOf('manifests gateway')]!.stdout).toContain('--target-group <port=arn>');
  });

  it('usage errors exit 64 with one clear line on stderr and nothing on stdout', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['reconcile', '--bogus'], /error: unknown option '--bogus'/],
      [['status', 'extra'], /error: too many arguments for 'status'/],
      [['manifests', 'gateway', 'extra'], /error: too many arguments for 'gateway'/],
      [['reconcile', '--output', 'xml'], /argument 'xml' is invalid. Allowed choices are table, json/],
      [['replay'], /error: missing required argument 'event-file'/],
      [['nope'], /error: unknown command 'nope'/],
      [['status', '--namespace'], /error: option '--namespace <ns>' argument missing/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [i, run] of runs.entries()) {
      expect(run.code, cases[i]![0].join(' ')).toBe(64);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(cases[i]![1]);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('no command prints the usage on stderr and exits 64', async () => {
    const out = await cli([]);
    expect(out.code).toBe(64);
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain('Usage: vm-registrar');
  });

  it('rbac takes --namespace (repeatable) and --group; without a namespace it is a usage error', async () => {
    const out = await cli(['rbac', '--namespace', 'b', '--namespace', 'a', '--group', 'vm-writers']);
    expect(out.code).toBe(0);
    expect(out.stdout.match(/^kind: (Role|RoleBinding)$/gm)).toHaveLength(4);
    expect(out.stdout).toContain('name: vm-writers');
    const none = await cli(['rbac'], { ALLOWED_NAMESPACES: '' });
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/needs --namespace NS/);
    const reserved = await cli(['rbac', '--namespace', 'a', '--group', 'system:masters']);
    expect(reserved.code).toBe(64);
    expect(reserved.stderr).toBe(
      'vm-registrar rbac: group "system:masters" starts with the reserved prefix "system:"\n',
    );
  });
});
