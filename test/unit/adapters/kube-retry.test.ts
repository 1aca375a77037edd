import { afterEach, describe, expect, it, vi } from 'vitest';
import { retryAfterWait } from '../../../shared/adapters/kube.ts';

describe('Function: retryAfterWait()', () => {
  afterEach(() => vi.restoreAllMocks());

  it('waits the Retry-After the server asked for, plus up to as much again (at most a second) of jitter', () => {
    // Prepare: the two ends of the jitter.
    const random = vi.spyOn(Math, 'random');

    // Act
    random.mockReturnValue(0);
    const low = [retryAfterWait(0.2), retryAfterWait(2)];
    random.mockReturnValue(0.999);
    const high = [retryAfterWait(0.2), retryAfterWait(2)];

    // Assess: throttled clients do not come back in step, and never before they were told to.
    expect(low).toEqual([200, 2000]);
    expect(high[0]).toBeCloseTo(399.8, 1);
    expect(high[1]).toBeCloseTo(2999, 0);
  });

  it('caps a long Retry-After at five seconds, so one record never eats the invocation', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    expect(retryAfterWait(120)).toBe(5000);
  });
});
