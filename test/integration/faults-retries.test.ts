import { describe, expect, it } from 'vitest';
import { stateChange } from '../helpers/fixtures.ts';
import { type Harness, instance, useHarness } from '../helpers/harness.ts';
import {
  conflict,
  OBJECT_MODIFIED,
  serviceUnavailable,
  tooManyRequests,
} from '../standins/kube-api/errors.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
/** The event queue's redrive policy (infra/constructs/registrar.ts): the fifth failed receive dead-letters. */
const MAX_RECEIVES = 5;

/**
 * SQS semantics with a redrive policy: a record reported failed is received again, until it
 * succeeds or has been received MAX_RECEIVES times (then it is in the DLQ). Returns the records
 * dead-lettered and the most receives any record needed.
 */
async function deliverWithRedrive(h: Harness, bodies: string[]) {
  let pending = bodies.map((body) => ({ body, receives: 0 }));
  const deadLettered: string[] = [];
  let most = 0;
  while (pending.length > 0) {
    const failed: typeof pending = [];
    for (let b = 0; b < pending.length; b += 10) {
      const batch = pending.slice(b, b + 10);
      for (const r of batch) r.receives++;
      const response = await h.send(batch.map((r) => r.body));
      const indexes = new Set(
        response.batchItemFailures.map((f) => Number(f.itemIdentifier.split('-').pop())),
      );
      batch.forEach((r, i) => {
        most = Math.max(most, r.receives);
        if (!indexes.has(i)) return;
        if (r.receives >= MAX_RECEIVES) deadLettered.push(r.body);
        else failed.push(r);
      });
    }
    pending = failed;
  }
  return { deadLettered, most };
}

const names = (h: Harness) =>
  h
    .entries()
    .map((e) => e.metadata.name)
    .sort();
const expected = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `reviews-${id(from + i)}`).sort();

describe('Faults: conflicts, slow responses, Auto Scaling 5xx; bounded retries that honour Retry-After', () => {
  const h = useHarness();

  it('409 conflicts on a third of the writes: every record converges before the queue would dead-letter it', async () => {
    // Prepare
    for (let n = 1; n <= 30; n++) h.aws.putInstance(instance(id(n)));
    h.kube.setFaults({ failureRate: 0.33, kinds: [409], onlyWrites: true, seed: 3 });

    // Act: scale out, then in by a third.
    const up = await deliverWithRedrive(
      h,
      Array.from({ length: 30 }, (_, i) => stateChange(id(i + 1), 'running')),
    );
    // Every entry's first delete meets a conflicting write (the uid still matches).
    h.kube.setFaults(undefined);
    const conflicted = new Set<string>();
    h.kube.setRequestHook(({ verb, path }) => {
      if (verb !== 'delete' || conflicted.has(path)) return;
      conflicted.add(path);
      throw conflict(
        { group: 'networking.istio.io', resource: 'workloadentries' },
        path.split('/').pop()!,
        OBJECT_MODIFIED,
      );
    });
    for (let n = 1; n <= 10; n++) h.aws.setState(id(n), 'terminated');
    const down = await deliverWithRedrive(
      h,
      Array.from({ length: 10 }, (_, i) => stateChange(id(i + 1), 'terminated')),
    );
    h.kube.setRequestHook(undefined);

    // Assess: conflicts are retried in the invocation (a fresh read each time), nothing dead-letters,
    // and a conflicting delete is not mistaken for "the name belongs to someone else".
    expect(up.deadLettered).toEqual([]);
    expect(down.deadLettered).toEqual([]);
    expect(conflicted.size).toBe(10);
    expect(up.most).toBeLessThan(MAX_RECEIVES);
    expect(names(h)).toEqual(expected(11, 30));
  });

  it('responses slower than the request timeout: attempts are cancelled and retried, and none lands later', async () => {
    // Prepare: a 200 ms request timeout, and a fifth of the requests held a second.
    await h.restart({ KUBE_REQUEST_TIMEOUT_MS: '200' });
    for (let n = 1; n <= 12; n++) h.aws.putInstance(instance(id(n)));
    h.kube.setFaults({ failureRate: 0.2, kinds: ['slow'], slowMs: 1000, seed: 8 });

    // Act
    const up = await deliverWithRedrive(
      h,
      Array.from({ length: 12 }, (_, i) => stateChange(id(i + 1), 'running')),
    );
    for (let n = 1; n <= 4; n++) h.aws.setState(id(n), 'terminated');
    const down = await deliverWithRedrive(
      h,
      Array.from({ length: 4 }, (_, i) => stateChange(id(i + 1), 'terminated')),
    );
    h.kube.setFaults(undefined);
    const writes = h.kube.stats().writes;
    // Past the time every held request was released: a write given up on must not land now.
    await new Promise((resolve) => setTimeout(resolve, 1200));

    // Assess
    expect([...up.deadLettered, ...down.deadLettered]).toEqual([]);
    expect(names(h)).toEqual(expected(5, 12));
    expect(h.kube.stats().writes).toBe(writes);
  });

  it('Auto Scaling 5xx: registrations wait for its answer, deregistrations do not need it', async () => {
    // Prepare
    for (let n = 1; n <= 20; n++) h.aws.putInstance(instance(id(n)));
    h.aws.setFaults({ autoScalingErrorRate: 0.3, seed: 4 });

    // Act
    const up = await deliverWithRedrive(
      h,
      Array.from({ length: 20 }, (_, i) => stateChange(id(i + 1), 'running')),
    );
    // Auto Scaling down altogether: terminations still go through on the first receive.
    h.aws.setFaults({ autoScalingErrorRate: 1, seed: 4 });
    for (let n = 1; n <= 5; n++) h.aws.setState(id(n), 'terminated');
    const down = await h.send(Array.from({ length: 5 }, (_, i) => stateChange(id(i + 1), 'terminated')));
    h.aws.setFaults(undefined);

    // Assess
    expect(up.deadLettered).toEqual([]);
    expect(up.most).toBeLessThan(MAX_RECEIVES);
    expect(down.batchItemFailures).toEqual([]);
    expect(names(h)).toEqual(expected(6, 20));
  });

  it("waits at least the server's Retry-After before trying again", async () => {
    // Prepare: the first apply is answered 429 with Retry-After: 1.
    h.aws.putInstance(instance(id(1)));
    const applies: number[] = [];
    h.kube.setRequestHook(({ verb }) => {
      if (verb !== 'apply') return;
      applies.push(performance.now());
      if (applies.length === 1) throw tooManyRequests(1);
    });

    // Act
    const response = await h.send([stateChange(id(1), 'running')]);

    // Assess: the lower bound is the server's instruction (no upper bound is asserted).
    expect(response.batchItemFailures).toEqual([]);
    expect(applies).toHaveLength(2);
    expect(applies[1]! - applies[0]!).toBeGreaterThanOrEqual(1000);
    expect(names(h)).toEqual([`reviews-${id(1)}`]);
  });

  it('gives up on a call after five attempts and hands the record back, without failing its batch', async () => {
    // Prepare: every read of one entry fails with 503.
    h.aws.putInstance(instance(id(1)));
    h.aws.putInstance(instance(id(2)));
    let reads = 0;
    h.kube.setRequestHook(({ verb, path }) => {
      if (verb === 'get' && path.endsWith(`reviews-${id(1)}`)) {
        reads++;
        throw serviceUnavailable('injected');
      }
    });

    // Act
    const response = await h.send([stateChange(id(1), 'running'), stateChange(id(2), 'running')]);

    // Assess
    expect(reads).toBe(5);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toHaveLength(1);
    expect(names(h)).toEqual([`reviews-${id(2)}`]);
  });
});
