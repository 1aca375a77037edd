import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('Runtime', () => {
  it('tests run on the Node.js major the Lambda functions run on (nodejs24.x)', () => {
    // Prepare
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    // Assess: the pinned `node` package is what npm scripts put first on the PATH.
    expect(pkg.devDependencies.node?.split('.')[0]).toBe('24');
    expect(process.versions.node.split('.')[0]).toBe('24');
  });
});
