import { describe, expect, it } from 'vitest';
import {
  decideTokenRefresh,
  formatTokenRecord,
  parseTokenRecord,
} from '../../../shared/domain/token-rotation.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const record = { issuedAt: new Date(T0).toISOString(), expiresAt: new Date(T0 + 24 * HOUR).toISOString() };

describe('Function: decideTokenRefresh()', () => {
  it.each([
    ['no token yet', undefined, 0, { mint: true, state: 'missing' }],
    ['11 h old (refresh at 12 h)', record, 11 * HOUR, { mint: false, state: 'fresh' }],
    ['just past half its life', record, 12 * HOUR + 1, { mint: true, state: 'due' }],
    ['past the refresh point by 1.4 intervals', record, 13.4 * HOUR, { mint: true, state: 'due' }],
    ['past the refresh point by 1.5 intervals', record, 13.5 * HOUR, { mint: true, state: 'late' }],
    ['expired', record, 24 * HOUR, { mint: true, state: 'expired' }],
  ] as const)('%s', (_, stored, age, expected) => {
    expect(decideTokenRefresh(stored, T0 + age, HOUR)).toMatchObject(expected);
  });

  it('uses the lifetime the server granted, not the one asked for', () => {
    // Asked for 24 h, granted 1 h: the refresh point is at 30 minutes.
    const short = { issuedAt: record.issuedAt, expiresAt: new Date(T0 + HOUR).toISOString() };
    expect(decideTokenRefresh(short, T0 + 29 * 60_000, 15 * 60_000).mint).toBe(false);
    expect(decideTokenRefresh(short, T0 + 31 * 60_000, 15 * 60_000)).toMatchObject({
      mint: true,
      state: 'due',
      secondsLeft: 29 * 60,
    });
  });
});

describe('Function: parseTokenRecord()', () => {
  it('reads what formatTokenRecord writes and nothing malformed', () => {
    expect(parseTokenRecord(formatTokenRecord(record))).toEqual(record);
    expect(parseTokenRecord(undefined)).toBeUndefined();
    expect(parseTokenRecord('not json')).toBeUndefined();
    expect(parseTokenRecord(JSON.stringify({ issuedAt: record.expiresAt, expiresAt: record.issuedAt }))).toBe(
      undefined,
    );
  });
});
