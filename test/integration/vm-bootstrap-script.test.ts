import { spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instanceClusterEnv, renderBootstrapBundle } from '../../shared/domain/bootstrap.ts';
import { renderUserData } from '../../shared/manifests/user-data.ts';
import { sampleInput } from '../helpers/bootstrap.ts';

/**
 * The user-data script, run twice under a throwaway root with the commands it needs stubbed
 * (test/helpers/vm-stubs: aws, curl for IMDSv2 and downloads, systemctl, the package tools, getent):
 * the files land in Istio's places with the right content and modes the first time, and the second
 * run changes nothing. Then the timer's `refresh`: a new token changes only the token, a new
 * configuration restarts the sidecar, new gateway addresses rewrite the hosts block.
 */
const STUBS = new URL('../helpers/vm-stubs/', import.meta.url).pathname;
const PATH_PREFIX = '/istio-vm-registrar/bootstrap/bookinfo/reviews';
const INSTANCE = {
  id: 'i-0123456789abcdef0',
  ip: '10.0.3.17',
  vpc: 'vpc-0fedcba9876543210',
  mac: '0a:1b:2c:3d:4e:5f',
};

function jwt(expSeconds: number, marker = 'a'): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ aud: ['istio-ca'], exp: expSeconds, sub: `system:serviceaccount:bookinfo:reviews:${marker}` })}.c2lnbmF0dXJl`;
}
const inADay = () => Math.floor(Date.now() / 1000) + 86_400;

interface Entry {
  type: 'file' | 'dir' | 'link';
  mode: string;
  mtimeMs: number;
  ino: number;
  content?: string;
  target?: string;
}

/** Every path under root: type, mode, inode, mtime, content or link target. */
function snapshot(root: string, dir = root, out: Record<string, Entry> = {}): Record<string, Entry> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = lstatSync(path);
    const key = path.slice(root.length);
    const common = { mode: (stat.mode & 0o7777).toString(8), mtimeMs: stat.mtimeMs, ino: stat.ino };
    if (stat.isSymbolicLink()) out[key] = { type: 'link', ...common, target: readlinkSync(path) };
    else if (stat.isDirectory()) {
      out[key] = { type: 'dir', ...common };
      snapshot(root, path, out);
    } else out[key] = { type: 'file', ...common, content: readFileSync(path, 'utf8') };
  }
  return out;
}

describe('User-data script: install, idempotence, refresh (throwaway root, stubbed commands)', () => {
  let dir: string;
  let root: string;
  let script: string;
  let env: Record<string, string>;
  const bundle = (() => {
    const result = renderBootstrapBundle(sampleInput('single-network'));
    if (!result.ok) throw new Error(result.refusal.message);
    return result.bundle;
  })();

  const ssm = (name: string, value: string) =>
    writeFileSync(join(dir, 'ssm', `${PATH_PREFIX}/${name}`.replaceAll('/', '_')), value);
  const run = (mode?: string) => {
    const result = spawnSync('bash', mode ? [script, mode] : [script], { env, encoding: 'utf8' });
    return { code: result.status, stderr: result.stderr, stdout: result.stdout };
  };
  const calls = () => readFileSync(env.STUB_LOG!, 'utf8').split('\n').filter(Boolean);
  const read = (path: string) => readFileSync(join(root, path), 'utf8');
  const mode = (path: string) => (lstatSync(join(root, path)).mode & 0o7777).toString(8);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vm-bootstrap-'));
    root = join(dir, 'root');
    for (const sub of [
      'root/etc',
      'ssm',
      'imds/placement',
      `imds/network/interfaces/macs/${INSTANCE.mac}`,
      'state',
    ]) {
      mkdirSync(join(dir, sub), { recursive: true });
    }
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost ip6-localhost\n');
    writeFileSync(join(dir, 'imds/instance-id'), INSTANCE.id);
    writeFileSync(join(dir, 'imds/local-ipv4'), INSTANCE.ip);
    writeFileSync(join(dir, 'imds/mac'), INSTANCE.mac);
    writeFileSync(join(dir, 'imds/placement/region'), 'us-west-2');
    writeFileSync(join(dir, `imds/network/interfaces/macs/${INSTANCE.mac}/vpc-id`), INSTANCE.vpc);
    for (const [name, value] of Object.entries(bundle)) if (name !== 'hosts') ssm(name, value);
    ssm('istio-token', jwt(inADay()));
    script = join(dir, 'user-data.sh');
    writeFileSync(script, renderUserData({ group: 'bookinfo/reviews' }));
    env = {
      PATH: `${STUBS}:/usr/bin:/bin`,
      HOME: dir,
      VM_BOOTSTRAP_ROOT: root,
      ISTIO_PROXY_USER: userInfo().username,
      STUB_LOG: join(dir, 'calls.log'),
      STUB_STATE: join(dir, 'state'),
      FAKE_SSM: join(dir, 'ssm'),
      FAKE_IMDS: join(dir, 'imds'),
      FAKE_GATEWAY_ADDRESSES: '10.0.2.6 10.0.1.5',
    };
    writeFileSync(env.STUB_LOG!, '');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('first run: installs the package, the files in Istio places with their modes, the units; starts the sidecar', () => {
    // Act
    const first = run();
    // Assess
    expect(first.code, first.stderr).toBe(0);
    expect(read('var/lib/istio/envoy/cluster.env')).toBe(
      instanceClusterEnv(bundle['cluster.env'], {
        groupName: 'reviews',
        instanceId: INSTANCE.id,
        privateIp: INSTANCE.ip,
      }),
    );
    expect(read('etc/istio/config/mesh')).toBe(bundle['mesh.yaml']);
    expect(read('etc/certs/root-cert.pem')).toBe(bundle['root-cert.pem']);
    expect(read('var/lib/istio/tokens/istio-token')).toBe(
      readFileSync(join(dir, 'ssm', `${PATH_PREFIX}/istio-token`.replaceAll('/', '_')), 'utf8'),
    );
    expect(lstatSync(join(root, 'etc/istio')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(root, 'var/run/secrets/tokens/istio-token'))).toBe(
      '/var/lib/istio/tokens/istio-token',
    );
    expect({
      cluster: mode('var/lib/istio/envoy/cluster.env'),
      mesh: mode('etc/istio/config/mesh'),
      root: mode('etc/certs/root-cert.pem'),
      token: mode('var/lib/istio/tokens/istio-token'),
      tokens: mode('var/lib/istio/tokens'),
      self: mode('usr/local/sbin/istio-vm-bootstrap'),
      units: mode('etc/systemd/system/istio-vm-refresh.timer'),
    }).toEqual({
      cluster: '644',
      mesh: '644',
      root: '644',
      token: '600',
      tokens: '700',
      self: '755',
      units: '644',
    });
    expect(read('etc/tmpfiles.d/istio-vm-bootstrap.conf')).toContain(
      'L+ /run/secrets/tokens/istio-token - - - - /var/lib/istio/tokens/istio-token',
    );
    // This VPC is not associated with the private zone: the gateway's addresses in a managed block.
    expect(read('etc/hosts')).toBe(
      '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' +
        '# BEGIN istio-vm-registrar: istiod through the east-west gateway (istio-vm-bootstrap keeps this block)\n' +
        '10.0.1.5 istiod.istio-system.svc\n10.0.2.6 istiod.istio-system.svc\n' +
        '# END istio-vm-registrar\n',
    );
    expect(read('etc/systemd/system/istio-vm-refresh.timer')).toContain('OnUnitActiveSec=30min');
    expect(read('usr/local/sbin/istio-vm-bootstrap')).toBe(readFileSync(script, 'utf8'));
    const log = calls();
    expect(log.filter((c) => c.startsWith('apt-get'))).toEqual([
      expect.stringMatching(/^apt-get install -y .*\/istio-sidecar\.deb$/),
    ]);
    const url = 'https://storage.googleapis.com/istio-release/releases/1.26.2/deb/istio-sidecar.deb';
    expect(log.filter((c) => c.startsWith('curl -sSfL')).map((c) => c.split(' ').at(-1))).toEqual([
      url,
      `${url}.sha256`,
    ]);
    expect(log.filter((c) => c.startsWith('systemctl') && !/is-(enabled|active)/.test(c))).toEqual([
      'systemctl daemon-reload',
      'systemctl enable istio-vm-refresh.service',
      'systemctl enable istio-vm-refresh.timer',
      'systemctl enable istio.service',
      'systemctl start istio-vm-refresh.timer',
      'systemctl start istio.service',
    ]);
    // Every metadata read went through IMDSv2.
    expect(
      log
        .filter((c) => c.includes('/meta-data/'))
        .every((c) => c.includes('X-aws-ec2-metadata-token: imds-v2-token')),
    ).toBe(true);
  });

  it('second run: changes nothing (same files, modes, inodes, times; no install, no unit change, no restart)', () => {
    // Prepare
    expect(run().code).toBe(0);
    const before = snapshot(root);
    writeFileSync(env.STUB_LOG!, '');
    // Act
    const second = run();
    // Assess
    expect(second.code, second.stderr).toBe(0);
    expect(snapshot(root)).toEqual(before);
    expect(second.stderr).toContain('install done: 0 change(s)');
    expect(calls().filter((c) => /^(apt-get|systemctl (?!is-))/.test(c))).toEqual([]);
  });

  it('refresh: a new token replaces only the token, and restarts nothing', () => {
    expect(run().code).toBe(0);
    const before = snapshot(root);
    const token = jwt(inADay(), 'b');
    ssm('istio-token', token);
    writeFileSync(env.STUB_LOG!, '');
    const refresh = run('refresh');
    expect(refresh.code, refresh.stderr).toBe(0);
    const after = snapshot(root);
    const differs = Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
    // The token file, and the time of the directory it was replaced in.
    expect(differs).toEqual(['/var/lib/istio/tokens', '/var/lib/istio/tokens/istio-token']);
    expect({ ...after['/var/lib/istio/tokens'], mtimeMs: 0 }).toEqual({
      ...before['/var/lib/istio/tokens'],
      mtimeMs: 0,
    });
    expect(read('var/lib/istio/tokens/istio-token')).toBe(token);
    expect(calls().filter((c) => c.startsWith('systemctl'))).toEqual([]);
  });

  it('refresh: a changed configuration restarts the sidecar, without blocking on it', () => {
    expect(run().code).toBe(0);
    ssm('mesh.yaml', bundle['mesh.yaml'].replace('meshId: mesh1', 'meshId: mesh2'));
    writeFileSync(env.STUB_LOG!, '');
    const refresh = run('refresh');
    expect(refresh.code, refresh.stderr).toBe(0);
    expect(read('etc/istio/config/mesh')).toContain('meshId: mesh2');
    expect(calls().filter((c) => c.startsWith('systemctl'))).toEqual([
      'systemctl --no-block try-restart istio.service',
    ]);
  });

  it('refresh: follows the gateway addresses, and falls back to the bundle ones when the name does not resolve', () => {
    expect(run().code).toBe(0);
    env.FAKE_GATEWAY_ADDRESSES = '10.0.3.9';
    expect(run('refresh').code).toBe(0);
    expect(read('etc/hosts')).toContain('\n10.0.3.9 istiod.istio-system.svc\n# END');
    delete env.FAKE_GATEWAY_ADDRESSES;
    expect(run('refresh').code).toBe(0);
    expect(read('etc/hosts')).toContain(
      '\n10.0.1.5 istiod.istio-system.svc\n10.0.2.6 istiod.istio-system.svc\n# END',
    );
    expect(calls().filter((c) => c.startsWith('systemctl') && !c.includes(' is-'))).toHaveLength(6);
  });

  it('relies on the private hosted zone in an associated VPC: no hosts block, an old one removed', () => {
    expect(run().code).toBe(0);
    writeFileSync(join(dir, `imds/network/interfaces/macs/${INSTANCE.mac}/vpc-id`), 'vpc-0a1b2c3d4e5f60718');
    expect(run('refresh').code).toBe(0);
    expect(read('etc/hosts')).toBe('127.0.0.1 localhost\n::1 localhost ip6-localhost\n');
  });

  it('says so and exits 1 when the token in SSM has expired (files still installed)', () => {
    ssm('istio-token', jwt(Math.floor(Date.now() / 1000) - 60));
    const result = run();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /the token in \/istio-vm-registrar\/bootstrap\/bookinfo\/reviews\/istio-token expired at .*: the bootstrap function has not refreshed it/,
    );
    expect(read('var/lib/istio/envoy/cluster.env')).toContain(
      'ISTIO_META_WORKLOAD_ENTRY=reviews-i-0123456789abcdef0',
    );
  });

  it('stops at once, naming the parameter, when the group has no bundle', () => {
    rmSync(join(dir, 'ssm', `${PATH_PREFIX}/mesh.yaml`.replaceAll('/', '_')));
    const result = run();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `cannot read ${PATH_PREFIX}/mesh.yaml: An error occurred (ParameterNotFound)`,
    );
    expect(calls().filter((c) => c.startsWith('sleep'))).toEqual([]);
  });

  it('refuses a package whose SHA-256 is not the published one', () => {
    env.FAKE_BAD_DOWNLOAD = '1';
    const result = run();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('istio-sidecar.deb does not match its published SHA-256');
    expect(calls().filter((c) => c.startsWith('apt-get'))).toEqual([]);
  });

  it('installs the arm64 package on Graviton', () => {
    env.FAKE_ARCH = 'aarch64';
    expect(run().code).toBe(0);
    expect(calls().filter((c) => c.startsWith('apt-get'))).toEqual([
      expect.stringMatching(/istio-sidecar-arm64\.deb$/),
    ]);
  });
});
