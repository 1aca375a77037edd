/** CLI exit codes, for scripts: 0 converged or applied, 1 errors, 2 refused by a safety stop, 64 usage. */
export const EXIT = { ok: 0, errors: 1, safetyStop: 2, usage: 64 } as const;
