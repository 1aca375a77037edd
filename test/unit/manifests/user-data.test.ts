import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ManifestError } from '../../../shared/manifests/kubernetes.ts';
import { renderUserData, userDataTemplate } from '../../../shared/manifests/user-data.ts';

/** shellcheck from the Debian package; the test fails (never skips) without it, saying how to install it. */
function shellcheck(script: string): { code: number | null; output: string } {
  const result = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '-'], {
    input: script,
    encoding: 'utf8',
  });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(
      'shellcheck is not installed: install the Debian package (apt-get install -y shellcheck) and run the tests again',
    );
  }
  return { code: result.status, output: result.stdout + result.stderr };
}

describe('Function: renderUserData()', () => {
  it('passes shellcheck, for the template and for a rendered group', () => {
    for (const script of [
      userDataTemplate(),
      renderUserData({ group: 'payments/ledger-v2', parameterPrefix: '/mesh/vm', refreshInterval: '2h' }),
    ]) {
      const result = shellcheck(script);
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    }
  });

  it('writes the group, its parameter path and the refresh interval into the settings block', () => {
    const script = renderUserData({
      group: 'payments/ledger-v2',
      parameterPrefix: '/mesh/vm',
      refreshInterval: '2h',
    });
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain(
      "GROUP='payments/ledger-v2'\nPARAMETER_PATH='/mesh/vm/payments/ledger-v2'\nREFRESH_INTERVAL='2h'\n",
    );
    expect(script.match(/^GROUP=/gm)).toHaveLength(1);
    expect(renderUserData({ group: 'bookinfo/reviews' })).toContain(
      "PARAMETER_PATH='/istio-vm-registrar/bootstrap/bookinfo/reviews'",
    );
  });

  it('refuses a group that is not namespace/name, a bad prefix and a bad interval, all at once', () => {
    let caught: unknown;
    try {
      renderUserData({
        group: "bookinfo/reviews'; rm -rf /",
        parameterPrefix: 'relative',
        refreshInterval: '30',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ManifestError);
    expect((caught as ManifestError).problems).toEqual([
      expect.stringContaining('--group:'),
      expect.stringContaining('parameter prefix "relative"'),
      expect.stringContaining('refresh interval "30"'),
    ]);
  });
});
