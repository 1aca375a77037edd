import { describe, expect, it } from 'vitest';
import { stateChange } from '../helpers/fixtures.ts';
import { type Harness, instance, useHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

/** SQS semantics: records reported as failed come back until they succeed (bounded here). */
async function deliverUntilDone(h: Harness, bodies: string[]): Promise<number> {
  let pending = bodies;
  let rounds = 0;
  while (pending.length > 0 && rounds++ < 30) {
    const failed: string[] = [];
    for (let b = 0; b < pending.length; b += 10) {
      const batch = pending.slice(b, b + 10);
      const response = await h.send(batch);
      const indexes = new Set(
        response.batchItemFailures.map((f) => Number(f.itemIdentifier.split('-').pop())),
      );
      batch.forEach((body, i) => {
        if (indexes.has(i)) failed.push(body);
      });
    }
    pending = failed;
  }
  return pending.length;
}

describe('Faults: 20% of Kubernetes calls fail (500/503/429/resets) and EC2 throttles', () => {
  const h = useHarness();

  it('every running tagged instance ends with exactly one entry and no terminated one keeps an entry', async () => {
    // Prepare
    const N = 60;
    for (let n = 1; n <= N; n++) h.aws.putInstance(instance(id(n)));
    h.kube.setFaults({ failureRate: 0.2, seed: 11 });
    h.aws.setFaults({ ec2ThrottleRate: 0.2, seed: 5 });

    // Act: scale out, then scale in a third, with duplicates and reordering.
    const up = Array.from({ length: N }, (_, i) => stateChange(id(i + 1), i % 2 ? 'running' : 'pending'));
    expect(await deliverUntilDone(h, [...up, ...up.slice(0, 10)])).toBe(0);
    for (let n = 1; n <= 20; n++) h.aws.setState(id(n), 'terminated');
    const down = Array.from({ length: 20 }, (_, i) => stateChange(id(20 - i), 'terminated'));
    expect(await deliverUntilDone(h, [...down, ...up.slice(0, 5)])).toBe(0);

    // Assess
    h.kube.setFaults(undefined);
    const names = h
      .entries()
      .map((e) => e.metadata.name)
      .sort();
    const expected = Array.from({ length: N - 20 }, (_, i) => `reviews-${id(i + 21)}`).sort();
    expect(names).toEqual(expected);
  });

  it('a sweep under faults repairs what it can, and a clean sweep after it finds nothing left', async () => {
    for (let n = 1; n <= 30; n++) h.aws.putInstance(instance(id(n)));
    h.kube.setFaults({ failureRate: 0.2, seed: 23 });
    h.aws.setFaults({ ec2ThrottleRate: 0.2, seed: 9 });
    for (let i = 0; i < 5; i++) {
      const summary = await reconcilerFromEnv().run();
      if (summary.converged) break;
    }
    h.kube.setFaults(undefined);
    h.aws.setFaults(undefined);
    const clean = await reconcilerFromEnv().run({ dryRun: true });
    expect(clean.changes).toEqual([]);
    expect(h.entries()).toHaveLength(30);
  });
});
