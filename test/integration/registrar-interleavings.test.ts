import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stateChange, withInstance } from '../helpers/fixtures.ts';
import { type Harness, instance, reviewsGroup, startHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';
import type { FakeInstance } from '../standins/aws-api/index.ts';

/**
 * Two concurrent SQS batches and sweeps against EC2 changing under them. fast-check's scheduler
 * decides the order in which the API server serves every held Kubernetes request and when each
 * EC2 change happens between them, so a batch can read "running", the instance terminate, another
 * batch handle the terminate, and the first one's apply land last (and every other order).
 *
 * Properties:
 * - no delete ever runs for an instance EC2 wants in the mesh at the moment of the delete, unless
 *   that instance changed after the oldest batch or sweep still running started (a party that
 *   read it before the change may act on what it read: only changes it could not have seen excuse it);
 * - once every event is handled (failed records redelivered, as SQS does), the entries equal what
 *   EC2 says, without a sweep (Spot-warned instances aside: their stale launch events may register
 *   them again, as documented);
 * - one sweep after that makes no change but the Spot-warned ones, and the entries equal EC2's truth.
 */

const IDS = ['i-0000000000000fc00', 'i-0000000000000fc01'] as const;
/**
 * What can happen to an instance in each EC2 state (`pick` chooses among them when the change is
 * released): launched, stopped, started, terminated, warned of a Spot interruption, or one of its
 * events delivered again.
 */
const MOVES = {
  absent: ['launch'],
  running: ['stop', 'terminate', 'spot', 'duplicate'],
  stopped: ['start', 'terminate', 'duplicate'],
  terminated: ['duplicate'],
} as const;
type Op = 'launch' | 'stop' | 'start' | 'terminate' | 'spot' | 'duplicate';

interface Round {
  readonly changes: ReadonlyArray<{ readonly i: number; readonly pick: number }>;
  /** Bit k of `mask`: the k-th queued event goes to batch B rather than A. */
  readonly mask: number;
  readonly sweep: boolean;
  /** Scheduled steps released before the next round starts (the rest stay in flight). */
  readonly steps: number;
}

const roundArb: fc.Arbitrary<Round> = fc.record({
  changes: fc.array(fc.record({ i: fc.nat(IDS.length - 1), pick: fc.nat(3) }), {
    minLength: 1,
    maxLength: 2,
  }),
  mask: fc.nat(255),
  // Mostly without a sweep: a sweep repairs what the event path gets wrong and would hide it.
  sweep: fc.nat(3).map((n) => n === 0),
  steps: fc.nat(6),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wanted = (i: FakeInstance | undefined) => i?.state === 'running' || i?.state === 'pending';

async function runScenario(h: Harness, rounds: readonly Round[], s: fc.Scheduler): Promise<string[]> {
  const violations: string[] = [];
  const interrupted = new Set<string>();
  const lastChange = new Map<string, number>();
  const inFlight = new Map<Promise<unknown>, number>();
  const history: string[] = [];
  let queue: string[] = [];
  let clock = 0;

  // EC2 reads are held too, so the scheduler orders them against the EC2 changes.
  h.aws.setRequestHook(async ({ action }) => {
    await s.schedule(Promise.resolve(), action);
  });
  h.kube.setRequestHook(async ({ method, verb, path }) => {
    await s.schedule(Promise.resolve(), `${verb} ${path}`);
    const name = path.split('/').at(-1) ?? '';
    if (method !== 'DELETE' || !path.includes('/workloadentries/')) return;
    const id = name.slice(name.indexOf('i-'));
    const oldest = Math.min(...inFlight.values());
    if (wanted(h.aws.instance(id)) && !interrupted.has(id) && (lastChange.get(id) ?? 0) < oldest) {
      violations.push(`delete of ${name} while EC2 reports it ${h.aws.instance(id)?.state}`);
    }
  });

  const enqueue = (body: string) => {
    queue.push(body);
    history.push(body);
  };
  const change = (i: number, pick: number) => {
    const id = IDS[i]!;
    const now = h.aws.instance(id);
    const state = (now?.state ?? 'absent') as keyof typeof MOVES;
    const moves: readonly Op[] = (MOVES[state] ?? ['duplicate']).filter(
      (m) => (m !== 'spot' || now?.instanceLifecycle === 'spot') && (m !== 'start' || !interrupted.has(id)),
    );
    const op = moves[pick % moves.length]!;
    const mark = () => lastChange.set(id, ++clock);
    switch (op) {
      case 'launch':
        if (now) return;
        h.aws.putInstance(instance(id, i % 2 === 1 ? { instanceLifecycle: 'spot' } : {}));
        mark();
        return enqueue(stateChange(id, 'running'));
      case 'stop':
        if (now?.state !== 'running') return;
        h.aws.setState(id, 'stopped');
        mark();
        return enqueue(stateChange(id, 'stopped'));
      case 'start':
        // A Spot-warned instance is on its way out: it is never started again here.
        if (now?.state !== 'stopped' || interrupted.has(id)) return;
        h.aws.setState(id, 'running');
        mark();
        return enqueue(stateChange(id, 'running'));
      case 'terminate':
        if (now?.state !== 'running' && now?.state !== 'stopped') return;
        h.aws.setState(id, 'terminated');
        mark();
        return enqueue(stateChange(id, 'terminated'));
      case 'spot':
        if (now?.state !== 'running' || now.instanceLifecycle !== 'spot') return;
        interrupted.add(id);
        mark();
        return enqueue(withInstance('ec2-spot-instance-interruption-warning.json', id));
      case 'duplicate': {
        const own = history.filter((body) => body.includes(id));
        if (own.length > 0) enqueue(own[pick % own.length]!);
      }
    }
  };
  const track = (work: Promise<unknown>) => {
    inFlight.set(work, ++clock);
    work.finally(() => inFlight.delete(work)).catch(() => {});
  };
  const sendBatch = (bodies: string[]) =>
    track(
      h.send(bodies).then((response) => {
        // SQS delivers failed records again.
        for (const failure of response.batchItemFailures) {
          queue.push(bodies[Number(failure.itemIdentifier.split('-').at(-1))]!);
        }
      }),
    );
  /** Releases up to `steps` held requests or EC2 changes, in the scheduler's order. */
  const drive = async (steps: number, untilIdle = false) => {
    let idle = 0;
    for (let n = 0; n < steps; ) {
      // Let the requests on their way reach the stand-ins, so the scheduler chooses among them all.
      await sleep(2);
      if (s.count() > 0) {
        await s.waitOne();
        n++;
        idle = 0;
        continue;
      }
      if (untilIdle && inFlight.size === 0) return;
      if (++idle > 2_000) throw new Error(`stuck: ${inFlight.size} in flight, nothing scheduled`);
      await sleep(1);
      if (!untilIdle && idle > 20) return;
    }
  };

  for (const round of rounds) {
    const events = queue;
    queue = [];
    const a = events.filter((_, k) => ((round.mask >> k) & 1) === 0);
    const b = events.filter((_, k) => ((round.mask >> k) & 1) === 1);
    if (a.length > 0) sendBatch(a);
    if (b.length > 0) sendBatch(b);
    if (round.sweep) track(reconcilerFromEnv().run());
    for (const { i, pick } of round.changes) {
      track(s.schedule(Promise.resolve(), `EC2 change ${IDS[i]}`).then(() => change(i, pick)));
    }
    await drive(round.steps);
  }
  // Every event handled, failures redelivered until none is left.
  for (let delivery = 0; delivery < 10; delivery++) {
    await drive(Number.POSITIVE_INFINITY, true);
    if (queue.length === 0) break;
    const again = queue;
    queue = [];
    sendBatch(again);
  }
  await drive(Number.POSITIVE_INFINITY, true);
  expect(queue, 'events still failing after ten deliveries').toEqual([]);
  h.kube.setRequestHook(undefined);
  h.aws.setRequestHook(undefined);

  // The event path alone converged (Spot-warned instances aside).
  const entries = () =>
    new Map(h.entries().map((e) => [e.metadata.name.slice('reviews-'.length), e.spec.address]));
  const truth = (skip: ReadonlySet<string>) =>
    new Map(
      IDS.filter((id) => !skip.has(id) && wanted(h.aws.instance(id))).map((id) => [
        id,
        h.aws.instance(id)!.privateIpAddress,
      ]),
    );
  const seen = entries();
  for (const id of interrupted) seen.delete(id);
  expect(seen, 'entries after the events, before any sweep').toEqual(truth(interrupted));

  // One sweep: EC2's truth, Spot warnings and all.
  const summary = await reconcilerFromEnv().run();
  expect(summary.errors).toEqual([]);
  expect(
    summary.changes.filter((c) => !interrupted.has(c.instanceId ?? '')),
    'a sweep after converged events changes nothing',
  ).toEqual([]);
  expect(entries(), 'entries after one sweep').toEqual(truth(new Set()));
  return violations;
}

describe('Property: concurrent batches and sweeps converge to EC2 and never evict a VM EC2 wants', () => {
  // Forty scenarios of real HTTP round trips: about 20 s alone, far more on a loaded machine.
  it('holds for random launch/stop/start/terminate/Spot/duplicate interleavings', {
    timeout: 300_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(roundArb, { minLength: 3, maxLength: 7 }),
        fc.scheduler(),
        async (rounds, s) => {
          const h = await startHarness();
          h.kube.seed(reviewsGroup());
          try {
            expect(await runScenario(h, rounds, s)).toEqual([]);
          } finally {
            await h.close();
          }
        },
      ),
      { seed: 0x7e57, numRuns: 40, endOnFailure: true },
    );
  });
});
