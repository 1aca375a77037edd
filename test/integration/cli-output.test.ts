import { describe, expect, it } from 'vitest';
import { progressReporter } from '../../shared/cli/reconcile.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { instance, useHarness } from '../helpers/harness.ts';
import { cli } from './cli-process.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

describe('CLI: reconcile and status output', () => {
  const h = useHarness();

  it('status --output json: rows with named fields', async () => {
    h.aws.putInstance(instance(id(1)));
    h.aws.putInstance(instance(id(2)));
    await h.send([stateChange(id(2), 'running')]);
    const out = await cli(['status', '--namespace', 'bookinfo', '--output', 'json']);
    expect(out.code).toBe(0);
    const body = JSON.parse(out.stdout) as { rows: unknown[]; outOfStep: number; errors: string[] };
    expect(body).toEqual({
      rows: [
        {
          group: 'bookinfo/reviews',
          instanceId: id(1),
          state: 'running',
          privateIp: '10.0.7.2',
          entry: '',
          entryAddress: '',
          status: 'needs create',
        },
        {
          group: 'bookinfo/reviews',
          instanceId: id(2),
          state: 'running',
          privateIp: '10.0.7.3',
          entry: `bookinfo/reviews-${id(2)}`,
          entryAddress: '10.0.7.3',
          status: 'in step',
        },
      ],
      // Per group; the registrar's Registered Event is no sweep, so no lastDrift.
      groups: [
        {
          group: 'bookinfo/reviews',
          instances: 2,
          entries: 1,
          outOfStep: 1,
          refused: 0,
        },
      ],
      outOfStep: 1,
      errors: [],
    });
  });

  it('a safety stop says "stopped", not "applied"; --summary prints totals only; progress with counts and rate', async () => {
    for (let n = 1; n <= 4; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3, 4].map((n) => stateChange(id(n), 'running')));
    for (let n = 1; n <= 3; n++) h.aws.removeInstance(id(n));
    const stopped = await cli(['reconcile']);
    expect(stopped.code).toBe(2);
    expect(stopped.stdout).toMatch(/SAFETY STOP bookinfo\/reviews/);
    expect(stopped.stdout).toMatch(/^stopped: 0 create, 0 update, 0 delete; 1 unchanged;/m);
    expect(stopped.stdout).not.toMatch(/^applied/m);
    expect(stopped.stderr).toMatch(/^listed 1 instances \(\d+\.\d s, \d+\/s\)$/m);

    const summary = await cli(['reconcile', '--dry-run', '--force', '--summary']);
    expect(summary.code).toBe(0);
    expect(summary.stdout).not.toMatch(/ACTION|GROUP/);
    expect(summary.stdout).toMatch(
      /^dry run: planned 0 create, 0 update, 3 delete; 1 unchanged; 0 refused, 0 failed;/,
    );
    expect(summary.stdout.trim().split('\n')).toHaveLength(1);

    const json = await cli(['--verbose', 'reconcile', '--dry-run', '--summary', '--output', 'json']);
    const body = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({ dryRun: true, totals: { delete: 0, unchanged: 1 } });
    expect(body).not.toHaveProperty('changes');
    // --verbose: the registrar's logs (the environment here says SILENT), on stderr, never on stdout.
    expect(json.stderr).toMatch(/^\{"level":"WARN","message":"safety stop: /m);
    expect(summary.stderr).not.toMatch(/"level"/);
  });

  it('the progress line reports elapsed time and the rate of the current step', () => {
    const lines: string[] = [];
    let t = 0;
    const report = progressReporter(
      (s) => lines.push(s),
      false,
      () => t,
    );
    t = 500;
    report('listed 1000 instances');
    t = 1000;
    report('planned 10 changes');
    t = 3000;
    report('applied 500/1000');
    expect(lines).toEqual([
      'listed 1000 instances (0.5 s, 2000/s)\n',
      'planned 10 changes (1.0 s, 20/s)\n',
      'applied 500/1000 (3.0 s, 250/s)\n',
    ]);
  });
});
