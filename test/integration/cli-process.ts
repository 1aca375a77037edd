import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'shared', 'cli', 'bin.ts');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI in a child process on the Node.js running the tests (the project's Node 24), with
 * the current environment (the harness's, when one is up) plus `env`.
 */
export async function cli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<Run> {
  return runFile(process.execPath, [BIN, ...args], env);
}

/** A README command line run as written, by a shell in the repository (npm scripts and all). */
export async function shell(command: string, env: Record<string, string | undefined> = {}): Promise<Run> {
  return runFile('/bin/sh', ['-c', command], env);
}

async function runFile(
  file: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(file, [...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 1 << 24,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export { spawn };
