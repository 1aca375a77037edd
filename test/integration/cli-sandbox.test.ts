import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AWS_EVENTS } from '../helpers/fixtures.ts';
import { BIN, cli } from './cli-process.ts';

/** The environment of the test process minus what points at a harness: the sandbox supplies it. */
function cleanEnv(): Record<string, string | undefined> {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (
      key.startsWith('AWS_') ||
      ['KUBECONFIG', 'ALLOWED_NAMESPACES', 'LIFECYCLE_HOOK_NAMES', 'CLUSTER_NAME'].includes(key)
    )
      delete env[key];
  }
  return env;
}

describe('CLI: sandbox', () => {
  it('prints an environment that status, reconcile and replay work against; SIGINT stops it with exit 0', async () => {
    const child = spawn(process.execPath, [BIN, 'sandbox'], {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('# Ctrl-C stops the sandbox\n')) resolve();
        });
        child.on('exit', () => reject(new Error(`sandbox exited early: ${stderr}`)));
      });
      const exported = Object.fromEntries(
        [...stdout.matchAll(/^export ([A-Z_0-9]+)=(.*)$/gm)].map((m) => [
          m[1]!,
          m[2]!.replace(/^'(.*)'$/, '$1'),
        ]),
      );
      expect(Object.keys(exported).sort()).toEqual(
        [
          'ALLOWED_NAMESPACES',
          'AWS_ACCESS_KEY_ID',
          'AWS_ENDPOINT_URL_AUTO_SCALING',
          'AWS_ENDPOINT_URL_EC2',
          'AWS_ENDPOINT_URL_EVENTBRIDGE',
          'AWS_ENDPOINT_URL_SQS',
          'AWS_REGION',
          'AWS_SECRET_ACCESS_KEY',
          'KUBECONFIG',
        ].sort(),
      );
      expect(stdout).toMatch(/^unset CLUSTER_NAME$/m);
      const envFile = /source ([^\s)]+)/.exec(stdout)?.[1];
      expect(envFile && existsSync(envFile)).toBe(true);
      const env = { ...cleanEnv(), ...exported };

      const status = await cli(['status', '--output', 'json'], env);
      expect(status.code).toBe(0);
      const rows = (JSON.parse(status.stdout) as { rows: Array<{ instanceId: string; status: string }> })
        .rows;
      expect(rows.map((r) => r.status)).toEqual(['needs create', 'needs create', 'needs create']);

      const reconcile = await cli(['reconcile', '--summary'], env);
      expect(reconcile.code).toBe(0);
      expect(reconcile.stdout).toMatch(/^applied 3 create, 0 update, 0 delete; 0 unchanged;/);

      const replay = await cli(['replay', join(AWS_EVENTS, 'ec2-instance-state-change-pending.json')], env);
      expect(replay.code).toBe(0);
      expect(replay.stdout).toMatch(/i-abcd1111\s+unchanged\s+bookinfo\/reviews-i-abcd1111/);

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toContain('SIGINT: stopping the sandbox');
      expect(existsSync(envFile!)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
