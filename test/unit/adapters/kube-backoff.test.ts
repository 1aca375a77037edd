import { afterEach, describe, expect, it, vi } from 'vitest';
import { retryDelay } from '../../../shared/adapters/kube.ts';

describe('Function: retryDelay()', () => {
  afterEach(() => vi.restoreAllMocks());

  it('backs off exponentially with full jitter: anywhere from nothing to the doubled ceiling', () => {
    // Prepare
    const random = vi.spyOn(Math, 'random');

    // Act
    random.mockReturnValue(0);
    const floor = [1, 2, 3, 4].map((attempt) => retryDelay(attempt, 50));
    random.mockReturnValue(0.999);
    const ceiling = [1, 2, 3, 4].map((attempt) => retryDelay(attempt, 50));

    // Assess
    expect(floor).toEqual([0, 0, 0, 0]);
    expect(ceiling.map(Math.round)).toEqual([50, 100, 200, 400]);
  });

  it("takes the server's Retry-After instead, never less, whatever the attempt", () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    expect(retryDelay(1, 50, 2)).toBe(2000);
    expect(retryDelay(4, 50, 1)).toBe(1000);
    // Retry-After: 0 or garbage is no instruction: back to the backoff.
    expect(retryDelay(2, 50, 0)).toBe(0);
    expect(retryDelay(2, 50, Number.NaN)).toBe(0);
  });
});
