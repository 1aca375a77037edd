import { describe, expect, it } from 'vitest';
import { shell } from './cli-process.ts';

describe('CLI: npm start (the demo)', () => {
  it('registers three VMs, completes the registrar lifecycle actions, removes the one scaled in', async () => {
    // As a user runs it: the CLI's own log level (WARN), not the test run's SILENT.
    const out = await shell('npm start --silent', { POWERTOOLS_LOG_LEVEL: undefined });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('seeded WorkloadGroup bookinfo/reviews');
    expect(out.stdout).not.toMatch(/applied WorkloadGroup/);
    const tables = out.stdout.split('\n').filter((l) => /^bookinfo\s+reviews-i-/.test(l));
    // Three entries after the scale-out, two after the scale-in.
    expect(tables.map((l) => l.split(/\s+/)[1])).toEqual([
      'reviews-i-0a1b2c3d4e5f60001',
      'reviews-i-0a1b2c3d4e5f60002',
      'reviews-i-0a1b2c3d4e5f60003',
      'reviews-i-0a1b2c3d4e5f60001',
      'reviews-i-0a1b2c3d4e5f60002',
    ]);
    expect(out.stdout).toMatch(
      /^bookinfo\s+reviews-i-0a1b2c3d4e5f60001\s+10\.0\.1\.10\s+us-west-2\/us-west-2a\s+http:9080\s+i-0a1b2c3d4e5f60001\s+my-asg$/m,
    );
    expect(out.stdout).toContain(
      'lifecycle actions completed: 3 (3 launches, hook istio-vm-registrar-launch)',
    );
    expect(out.stdout).toContain('lifecycle actions completed: 4 (3 launches, 1 termination)');
    expect(out.stdout).toContain('writes made by the replay: 0');
    expect(out.stdout).toMatch(/0 failed/);
    expect(out.stdout).not.toMatch(/[1-9]\d* failed/);
    expect(out.stdout).toContain('reconcile --dry-run: converged (2 unchanged, 0 changes planned)');
  });
});
