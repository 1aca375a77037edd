/**
 * When a group's `istio-ca` token is minted again. The rotation function runs every `interval`; a
 * token is replaced once half its lifetime has passed, so a VM that re-fetches it on its own timer
 * always holds one with hours to spare. Issue and expiry come from the TokenRequest's own answer
 * (the server may shorten the lifetime asked for) and are kept beside the token.
 *
 * | stored token                                              | decision | state     | metric                |
 * |-----------------------------------------------------------|----------|-----------|-----------------------|
 * | none, or its record unreadable                            | mint     | `missing` |                       |
 * | before its refresh point (issued + lifetime / 2)          | keep     | `fresh`   |                       |
 * | past its refresh point by less than 1.5 intervals         | mint     | `due`     |                       |
 * | past its refresh point by 1.5 intervals or more           | mint     | `late`    | BootstrapTokenLate    |
 * | expired                                                   | mint     | `expired` | BootstrapTokenExpired |
 *
 * Half an interval of slack covers the scheduler's jitter and retries: a `late` token means at
 * least one run failed or did not happen. Every mint or write that fails counts
 * BootstrapRefreshFailed; the token left in place keeps being used until it expires.
 */

/** What is kept beside a token (never the token): when it was issued and when it expires. */
export interface TokenRecord {
  readonly issuedAt: string;
  readonly expiresAt: string;
}

export type TokenState = 'missing' | 'fresh' | 'due' | 'late' | 'expired';

export interface TokenDecision {
  readonly mint: boolean;
  readonly state: TokenState;
  /** Epoch ms at which the stored token should be replaced (absent when none is stored). */
  readonly refreshAt?: number;
  /** Seconds the stored token has left (0 once expired; absent when none is stored). */
  readonly secondsLeft?: number;
}

/** TokenRequest's lower bound (ValidateTokenRequest: "may not specify a duration less than 10 minutes"). */
export const MIN_TOKEN_LIFETIME_SECONDS = 600;
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 24 * 3600;
/** The audience istiod's CA accepts (TOKEN_AUDIENCES default). */
export const ISTIO_CA_AUDIENCE = 'istio-ca';

/** Parses a stored record; undefined when absent or unreadable (the token is then minted again). */
export function parseTokenRecord(text: string | undefined): TokenRecord | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<TokenRecord>;
    if (
      typeof value.issuedAt === 'string' &&
      typeof value.expiresAt === 'string' &&
      Number.isFinite(Date.parse(value.issuedAt)) &&
      Date.parse(value.expiresAt) > Date.parse(value.issuedAt)
    ) {
      return { issuedAt: value.issuedAt, expiresAt: value.expiresAt };
    }
  } catch {
    // Unreadable: treated as missing.
  }
  return undefined;
}

export function formatTokenRecord(record: TokenRecord): string {
  return JSON.stringify({ issuedAt: record.issuedAt, expiresAt: record.expiresAt });
}

/** Decides whether to mint, from the stored record, the time now and the schedule interval. */
export function decideTokenRefresh(
  record: TokenRecord | undefined,
  now: number,
  intervalMs: number,
): TokenDecision {
  if (!record) return { mint: true, state: 'missing' };
  const issued = Date.parse(record.issuedAt);
  const expires = Date.parse(record.expiresAt);
  const refreshAt = issued + (expires - issued) / 2;
  const secondsLeft = Math.max(0, Math.floor((expires - now) / 1000));
  if (now >= expires) return { mint: true, state: 'expired', refreshAt, secondsLeft };
  if (now < refreshAt) return { mint: false, state: 'fresh', refreshAt, secondsLeft };
  const state: TokenState = now - refreshAt >= 1.5 * intervalMs ? 'late' : 'due';
  return { mint: true, state, refreshAt, secondsLeft };
}
