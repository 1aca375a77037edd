/**
 * A local Kubernetes API server stand-in for tests: plain node:http on 127.0.0.1, reached through the real
 * @kubernetes/client-node with a kubeconfig pointing at it. It serves the Istio CRDs from
 * test/fixtures/istio-crds (validated with their OpenAPI schemas and CEL rules), Namespaces, Services and
 * EndpointSlices, and rejects what a real kube-apiserver rejects, with the same Status bodies and codes.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { seededRandom } from '../seeded-random.ts';
import { issueToken, type TokenIssuerOptions } from './core.ts';
import { Engine, type ListOptions, PATCH_TYPES, type Target } from './engine.ts';
import {
  badRequest,
  conflict,
  fieldError,
  goStrings,
  internalError,
  invalidOptions,
  isStatusError,
  methodNotAllowed,
  OBJECT_MODIFIED,
  resourceNotFound,
  type StatusError,
  serviceUnavailable,
  tooManyRequests,
  unauthorized,
  unsupportedMediaType,
} from './errors.ts';
import { deepClone, duplicateFields, isObject } from './json.ts';
import {
  apiGroupDoc,
  apiGroupListDoc,
  apiResourceListDoc,
  apiVersionsDoc,
  builtinResources,
  loadCrds,
  type ResourceType,
} from './resources.ts';
import { fieldMatcher, labelMatcher } from './selectors.ts';
import type { JsonObject, KubeObject } from './types.ts';

export { rbacForbidden, StatusError } from './errors.ts';
export type { KubeObject, KubeStatus, ManagedFieldsEntry, ObjectMeta, OwnerReference } from './types.ts';

export interface KubeApiOptions {
  /** Directory of CustomResourceDefinition YAML files; default test/fixtures/istio-crds. */
  crdDir?: string;
  /** Delay added before every request is handled. */
  latencyMs?: number;
  /** Separate read and write costs instead (see {@link REAL_APISERVER_LATENCY}); wins over latencyMs. */
  latency?: LatencyModel;
  /** Namespaces that exist from the start; default ['default']. */
  namespaces?: string[];
  /**
   * How long after a write the garbage collector deletes an object none of whose owner references
   * resolves to a live owner (kind, name and uid in its namespace); default 500 ms. Negative or not
   * finite: never.
   */
  danglingOwnerGcDelayMs?: number;
  /**
   * The stand-in's clock, epoch ms: list snapshots (a continue token expires five minutes after its
   * first page) and the token issuer (`serviceaccounts/token`). Default Date.now.
   */
  now?: () => number;
  /**
   * How long a deleted namespace stays `Terminating` once its objects are gone (creates in it are
   * refused with 403 meanwhile); default 200 ms, <= 0: removed at once.
   */
  namespaceFinalizeDelayMs?: number;
  /** Audiences of a TokenRequest that names none (`--api-audiences`); default the in-cluster URL. */
  tokenAudiences?: string[];
  /** `--service-account-max-token-expiration` in seconds; default none (no shortening). */
  maxTokenExpirationSeconds?: number;
}

export interface RequestStats {
  total: number;
  /** POST/PUT/PATCH/DELETE requests received, whatever the outcome. */
  writes: number;
  /** e.g. 'apply', 'create', 'update', 'patch', 'delete', 'deletecollection', 'get', 'list', 'discovery'. */
  byVerb: Record<string, number>;
}

export type FaultKind = 500 | 503 | 429 | 409 | 'reset' | 'slow';

/** What a request hook sees of a request. */
export interface RequestInfo {
  readonly method: string;
  /** As in RequestStats.byVerb: 'apply', 'get', 'list', 'delete', ... */
  readonly verb: string;
  readonly path: string;
}
export type RequestHook = (request: RequestInfo) => void | Promise<void>;

export interface FaultPlan {
  /** 0..1 of requests. */
  failureRate: number;
  /**
   * Default 500, 503, 429 and 'reset'. 429 carries `Retry-After: retryAfterSeconds`; 'reset' destroys
   * the socket before or after the write; 409 is the optimistic-concurrency Conflict a write can get
   * (a read drawn for it is served normally); 'slow' holds the request `slowMs` before handling it,
   * and drops it, as a real server's request context does, when the client has given up meanwhile.
   */
  kinds?: FaultKind[];
  onlyWrites?: boolean;
  /** Seed of the deterministic PRNG. */
  seed?: number;
  /** Retry-After of the 429s, in seconds; default 0. */
  retryAfterSeconds?: number;
  /** How long a 'slow' request is held; default 30 s. */
  slowMs?: number;
}

/**
 * What requests cost, as on a real API server: a read is served from the watch cache, a write goes
 * through etcd, where only `writeConcurrency` commits proceed at once (the rest queue).
 */
export interface LatencyModel {
  readMs: number;
  writeMs: number;
  /** Writes handled at once; default unlimited. */
  writeConcurrency?: number;
}

/**
 * A kube-apiserver 1.26 with etcd on one 2-core machine (../shared reference figures, see
 * docs/benchmarks.md): about 90 server-side applies of a WorkloadEntry per second one at a time (p50
 * 11 ms) and 160-190 ten at a time, i.e. two commits at once; a read costs about a tenth of an apply.
 */
export const REAL_APISERVER_LATENCY: LatencyModel = { readMs: 1.1, writeMs: 11, writeConcurrency: 2 };

export interface KubeApiStandIn {
  readonly url: string;
  /** A kubeconfig (cluster, user and context 'standin') pointing at url, token auth with any token. */
  kubeconfigYaml(): string;
  writeKubeconfig(path: string): void;
  stats(): RequestStats;
  resetStats(): void;
  setFaults(plan: FaultPlan | undefined): void;
  /** Faults injected under the last fault plan set, by kind (a 409 drawn for a read is not one). */
  faultsInjected(): Record<string, number>;
  /** A delay for every request (a number, ms), or separate read and write costs; 0 for none. */
  setLatency(latency: number | LatencyModel): void;
  /**
   * Runs `hook` for every request after its body is read and before it is served (undefined:
   * none), so a test can hold one request (an apply, say) while others go through: interleavings
   * that latency alone cannot produce. A StatusError the hook throws is the answer (an RBAC denial,
   * say: `rbacForbidden`).
   */
  setRequestHook(hook: RequestHook | undefined): void;
  createNamespace(name: string): void;
  /** Stores an object without HTTP, validated like an HTTP create (its status, if any, is then written). */
  seed(obj: KubeObject): KubeObject;
  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined;
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[];
  close(): Promise<void>;
}

const DEFAULT_CRD_DIR = fileURLToPath(new URL('../../fixtures/istio-crds/', import.meta.url));
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const SEED_MANAGER = 'kube-api-standin';
/** The options type whose validation (ValidateDryRun) refuses an unknown dryRun value, per verb. */
const DRY_RUN_OPTIONS: Record<string, string> = {
  create: 'CreateOptions',
  update: 'UpdateOptions',
  patch: 'PatchOptions',
  apply: 'PatchOptions',
  delete: 'DeleteOptions',
  deletecollection: 'DeleteOptions',
};

interface Route {
  kind: 'doc' | 'resource';
  doc?: JsonObject;
  rt?: ResourceType;
  version?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function parseBool(v: string | null): boolean | undefined {
  if (v === null) return undefined;
  return v === 'true' || v === '1' || v === '';
}

class StandIn implements KubeApiStandIn {
  url = '';
  private readonly engine: Engine;
  private readonly server: Server;
  private latency: LatencyModel = { readMs: 0, writeMs: 0 };
  /** Writes waiting for one of the model's write slots, and the slots taken. */
  private readonly writeQueue: Array<() => void> = [];
  private writesInFlight = 0;
  private requestHook: RequestHook | undefined;
  private counters: RequestStats = { total: 0, writes: 0, byVerb: {} };
  /** Faults injected under the last fault plan set, by kind. */
  private injected: Record<string, number> = {};
  private faults?: { plan: FaultPlan; kinds: FaultKind[]; rng: () => number };

  private readonly tokens: TokenIssuerOptions;

  constructor(engine: Engine, latency: number | LatencyModel, tokens: TokenIssuerOptions) {
    this.engine = engine;
    this.setLatency(latency);
    this.tokens = tokens;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) this.sendError(res, internalError(String(e)));
      });
    });
    // Keep idle connections like kube-apiserver does. Node advertises `Keep-Alive: timeout=N`, and
    // undici closes a connection N minus 2 s after each response: a short timeout here would turn
    // every request into a new connection. (client-node 2.x alone builds a new agent per request
    // when TLS options are set; the registrar's PooledKubeConfig shares one.)
    this.server.keepAliveTimeout = 60_000;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  kubeconfigYaml(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: standin',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: standin',
      '  user:',
      '    token: standin-token',
      'contexts:',
      '- name: standin',
      '  context:',
      '    cluster: standin',
      '    user: standin',
      '    namespace: default',
      'current-context: standin',
      '',
    ].join('\n');
  }

  writeKubeconfig(path: string): void {
    writeFileSync(path, this.kubeconfigYaml());
  }

  stats(): RequestStats {
    return { total: this.counters.total, writes: this.counters.writes, byVerb: { ...this.counters.byVerb } };
  }

  resetStats(): void {
    this.counters = { total: 0, writes: 0, byVerb: {} };
  }

  setFaults(plan: FaultPlan | undefined): void {
    if (plan === undefined || plan.failureRate <= 0) {
      this.faults = undefined;
      return;
    }
    this.injected = {};
    const all: FaultKind[] = [500, 503, 429, 'reset'];
    const kinds = plan.kinds !== undefined && plan.kinds.length > 0 ? [...plan.kinds] : all;
    this.faults = { plan, kinds, rng: seededRandom(plan.seed ?? 0x5eed) };
  }

  faultsInjected(): Record<string, number> {
    return { ...this.injected };
  }

  setLatency(latency: number | LatencyModel): void {
    this.latency =
      typeof latency === 'number'
        ? { readMs: Math.max(0, latency), writeMs: Math.max(0, latency) }
        : { ...latency, readMs: Math.max(0, latency.readMs), writeMs: Math.max(0, latency.writeMs) };
  }

  /** Waits what the latency model says this request costs (a write holds one of the write slots). */
  private async delay(write: boolean): Promise<void> {
    const { readMs, writeMs, writeConcurrency } = this.latency;
    if (!write) {
      if (readMs > 0) await sleep(readMs);
      return;
    }
    if (writeMs <= 0) return;
    if (writeConcurrency === undefined || writeConcurrency <= 0) {
      await sleep(writeMs);
      return;
    }
    if (this.writesInFlight >= writeConcurrency) {
      await new Promise<void>((resolve) => this.writeQueue.push(resolve));
    } else {
      this.writesInFlight++;
    }
    try {
      await sleep(writeMs);
    } finally {
      // The slot passes straight to the next queued write, or is freed.
      const next = this.writeQueue.shift();
      if (next) next();
      else this.writesInFlight--;
    }
  }

  setRequestHook(hook: RequestHook | undefined): void {
    this.requestHook = hook;
  }

  createNamespace(name: string): void {
    const ns = this.engine.types.find((t) => t.id === '/namespaces')!;
    if (this.engine.getStored(ns, '', name) !== undefined) return;
    this.engine.create(
      { rt: ns, version: 'v1', namespace: '', name: '', subresource: '' },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      { dryRun: false, fieldManager: SEED_MANAGER },
    );
  }

  seed(obj: KubeObject): KubeObject {
    const { rt, version } = this.engine.typeFor(obj.apiVersion, obj.kind);
    const namespace = rt.namespaced ? (obj.metadata?.namespace ?? 'default') : '';
    const body = deepClone(obj) as unknown as JsonObject;
    const t: Target = { rt, version, namespace, name: '', subresource: '' };
    let json = this.engine.create(t, body, { dryRun: false, fieldManager: SEED_MANAGER }).json;
    if (rt.statusSubresource && rt.crd && obj.status !== undefined) {
      const created = JSON.parse(json) as KubeObject;
      const name = created.metadata.name!;
      json = this.engine.update(
        { ...t, name, subresource: 'status' },
        { ...created, status: deepClone(obj.status) },
        { dryRun: false, fieldManager: SEED_MANAGER },
      ).json;
    }
    return JSON.parse(json) as KubeObject;
  }

  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined {
    const { rt, version } = this.engine.typeFor(apiVersion, kind);
    const s = this.engine.getStored(rt, namespace, name);
    return s === undefined ? undefined : (JSON.parse(this.engine.render(rt, s, version)) as KubeObject);
  }

  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const { rt, version } = this.engine.typeFor(apiVersion, kind);
    return this.engine
      .objects(rt, namespace)
      .map((s) => JSON.parse(this.engine.render(rt, s, version)) as KubeObject);
  }

  async close(): Promise<void> {
    this.engine.dispose();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- HTTP ----

  private count(verb: string, method: string): void {
    this.counters.total++;
    if (WRITE_METHODS.has(method)) this.counters.writes++;
    this.counters.byVerb[verb] = (this.counters.byVerb[verb] ?? 0) + 1;
  }

  private send(
    res: ServerResponse,
    code: number,
    json: string,
    warnings: string[] = [],
    headers: Record<string, string> = {},
  ): void {
    const h: Record<string, string | string[]> = {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      ...headers,
    };
    if (warnings.length > 0) h.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
    res.writeHead(code, h);
    res.end(json);
  }

  private sendError(res: ServerResponse, e: StatusError): void {
    this.send(res, e.status.code, JSON.stringify(e.status), [], e.headers);
  }

  private route(path: string): Route | undefined {
    const segs = path
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    const types = this.engine.types;
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api') {
      if (segs.length === 1) return { kind: 'doc', doc: apiVersionsDoc() };
      group = '';
      version = segs[1]!;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis') {
      if (segs.length === 1) return { kind: 'doc', doc: apiGroupListDoc(types) };
      group = segs[1]!;
      if (segs.length === 2) {
        const doc = apiGroupDoc(types, group);
        return doc === undefined ? undefined : { kind: 'doc', doc };
      }
      version = segs[2]!;
      rest = segs.slice(3);
    } else if (segs.length === 1 && segs[0] === 'version') {
      return {
        kind: 'doc',
        doc: {
          major: '1',
          minor: '26',
          gitVersion: 'v1.26.0',
          gitTreeState: 'clean',
          goVersion: 'go1.19.4',
          compiler: 'gc',
          platform: 'linux/amd64',
        },
      };
    } else {
      return undefined;
    }
    if (rest.length === 0) {
      const doc = apiResourceListDoc(types, group, version);
      return doc === undefined ? undefined : { kind: 'doc', doc };
    }
    const find = (plural: string): ResourceType | undefined =>
      types.find((t) => t.group === group && t.plural === plural && t.versions.includes(version));
    let namespace: string | undefined;
    let plural: string;
    let name: string | undefined;
    let subresource: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && find(rest[2]!) !== undefined) {
      namespace = rest[1]!;
      plural = rest[2]!;
      name = rest[3];
      subresource = rest[4];
      if (rest.length > 5) return undefined;
    } else {
      plural = rest[0]!;
      name = rest[1];
      subresource = rest[2];
      if (rest.length > 3) return undefined;
    }
    const rt = find(plural);
    if (rt === undefined) return undefined;
    if (rt.namespaced && namespace === undefined && name !== undefined) return undefined;
    if (!rt.namespaced && namespace !== undefined) return undefined;
    if (
      subresource !== undefined &&
      !(subresource === 'status' && rt.statusSubresource) &&
      !(rt.subresources ?? []).some((s) => s.name === subresource)
    ) {
      return undefined;
    }
    const r: Route = { kind: 'resource', rt, version };
    if (namespace !== undefined) r.namespace = namespace;
    if (name !== undefined) r.name = name;
    if (subresource !== undefined) r.subresource = subresource;
    return r;
  }

  private verbOf(method: string, route: Route | undefined, contentType: string, q: URLSearchParams): string {
    if (route === undefined) return 'unknown';
    if (route.kind === 'doc') return 'discovery';
    const named = route.name !== undefined;
    switch (method) {
      case 'GET':
        if (named) return 'get';
        return parseBool(q.get('watch')) === true ? 'watch' : 'list';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return contentType === PATCH_TYPES.apply ? 'apply' : 'patch';
      case 'DELETE':
        return named ? 'delete' : 'deletecollection';
      default:
        return method.toLowerCase();
    }
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://standin');
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const route = this.route(url.pathname);
    const verb = this.verbOf(method, route, contentType, url.searchParams);
    this.count(verb, method);
    const body = await this.readBody(req);
    await this.delay(WRITE_METHODS.has(method));
    if (this.requestHook) {
      try {
        await this.requestHook({ method, verb, path: url.pathname });
      } catch (e) {
        if (!isStatusError(e)) throw e;
        this.sendError(res, e);
        return;
      }
    }
    // A real API server runs each request under its client's context: a client that has gone
    // (aborted, timed out) before the handler reached storage cancels the write.
    if (res.closed || req.socket.destroyed) return;

    let resetAfter = false;
    const f = this.faults;
    if (
      f !== undefined &&
      (f.plan.onlyWrites !== true || WRITE_METHODS.has(method)) &&
      f.rng() < f.plan.failureRate
    ) {
      const kind = f.kinds[Math.floor(f.rng() * f.kinds.length)]!;
      if (kind !== 409 || WRITE_METHODS.has(method)) {
        this.injected[String(kind)] = (this.injected[String(kind)] ?? 0) + 1;
      }
      if (kind === 'slow') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, f.plan.slowMs ?? 30_000);
          res.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        if (res.closed || req.socket.destroyed) return;
      } else if (kind === 409) {
        if (WRITE_METHODS.has(method) && route?.kind === 'resource' && route.rt !== undefined) {
          this.sendError(
            res,
            conflict({ group: route.rt.group, resource: route.rt.plural }, route.name ?? '', OBJECT_MODIFIED),
          );
          return;
        }
      } else if (kind === 'reset') {
        if (f.rng() < 0.5) {
          req.socket.destroy();
          return;
        }
        resetAfter = true;
      } else {
        const err =
          kind === 500
            ? internalError('injected fault')
            : kind === 503
              ? serviceUnavailable('the server is currently unable to handle the request (injected fault)')
              : tooManyRequests(f.plan.retryAfterSeconds ?? 0);
        this.sendError(res, err);
        return;
      }
    }

    let code: number;
    let json: string;
    let warnings: string[] = [];
    try {
      ({ code, json, warnings } = this.serve(req, method, url, route, verb, contentType, body));
    } catch (e) {
      if (!isStatusError(e)) throw e;
      if (resetAfter) {
        req.socket.destroy();
        return;
      }
      this.sendError(res, e);
      return;
    }
    if (resetAfter) {
      req.socket.destroy();
      return;
    }
    this.send(res, code, json, warnings);
  }

  private serve(
    req: IncomingMessage,
    method: string,
    url: URL,
    route: Route | undefined,
    verb: string,
    contentType: string,
    body: string,
  ): { code: number; json: string; warnings: string[] } {
    if (route === undefined) throw resourceNotFound();
    const auth = req.headers.authorization ?? '';
    if (!/^Bearer\s+\S+/i.test(auth)) throw unauthorized();
    if (route.kind === 'doc') {
      if (method !== 'GET') throw methodNotAllowed();
      return { code: 200, json: JSON.stringify(route.doc), warnings: [] };
    }
    const rt = route.rt!;
    const q = url.searchParams;
    const dryRunValues = q.getAll('dryRun');
    const dryRun = dryRunValues.includes('All');
    const optionsKind = DRY_RUN_OPTIONS[verb];
    if (optionsKind !== undefined && dryRunValues.some((d) => d !== 'All')) {
      throw invalidOptions(optionsKind, [
        fieldError('FieldValueNotSupported', 'dryRun', goStrings(dryRunValues), 'supported values: "All"'),
      ]);
    }
    const fieldValidation = q.get('fieldValidation') ?? undefined;
    const opts = {
      dryRun,
      fieldManager: q.get('fieldManager') ?? undefined,
      fieldValidation,
      userAgent: req.headers['user-agent'],
      // The JSON decoder of create and update notices a field given twice (JSON.parse keeps the last).
      ...((verb === 'create' || verb === 'update') &&
      contentType !== 'application/yaml' &&
      fieldValidation !== 'Ignore'
        ? { duplicateFields: duplicateFields(body) }
        : {}),
    };
    const t: Target = {
      rt,
      version: route.version!,
      namespace: rt.namespaced ? (route.namespace ?? '') : '',
      name: route.name ?? '',
      subresource: route.subresource ?? '',
    };
    const listOpts = (): ListOptions => {
      const o: ListOptions = {};
      const labels = labelMatcher(q.get('labelSelector'));
      if (labels !== undefined) o.labels = labels;
      const fields = fieldMatcher(q.get('fieldSelector'), rt.id === '/namespaces' ? ['status.phase'] : []);
      if (fields !== undefined) o.fields = fields;
      const limit = q.get('limit');
      if (limit !== null && limit !== '') {
        const n = Number(limit);
        if (!Number.isInteger(n) || n < 0) throw badRequest(`invalid limit: ${limit}`);
        o.limit = n;
      }
      const cont = q.get('continue');
      if (cont !== null && cont !== '') {
        if ((q.get('resourceVersion') ?? '') !== '') {
          throw badRequest('specifying resource version is not allowed when using continue');
        }
        o.continueToken = cont;
      }
      return o;
    };
    const parseJsonBody = (): unknown => {
      if (contentType !== '' && contentType !== 'application/json' && contentType !== 'application/yaml') {
        throw unsupportedMediaType(
          `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`,
        );
      }
      try {
        return contentType === 'application/yaml' ? load(body) : JSON.parse(body);
      } catch (e) {
        throw badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
      }
    };

    // serviceaccounts/token takes POST only (TokenREST is a NamedCreater and nothing else).
    if (route.subresource === 'token' && verb !== 'create') throw methodNotAllowed();
    switch (verb) {
      case 'get':
        return { code: 200, json: this.engine.get(t), warnings: [] };
      case 'list':
        return {
          code: 200,
          json: this.engine.list(rt, t.version, route.namespace, listOpts()),
          warnings: [],
        };
      case 'watch':
        throw badRequest('watch is not supported by the Kubernetes API stand-in');
      case 'create': {
        if (route.subresource === 'token' && route.name !== undefined && route.namespace !== undefined) {
          return issueToken(
            this.tokens,
            {
              get: (id, ns, name) => {
                const type = this.engine.types.find((candidate) => candidate.id === id);
                const stored = type === undefined ? undefined : this.engine.getStored(type, ns, name);
                return stored === undefined ? undefined : (JSON.parse(stored.json) as KubeObject);
              },
            },
            route.namespace,
            route.name,
            parseJsonBody(),
            'v1',
          );
        }
        if (route.name !== undefined) throw methodNotAllowed();
        if (rt.namespaced && route.namespace === undefined) throw methodNotAllowed();
        const r = this.engine.create(t, parseJsonBody(), opts);
        return { code: r.code, json: r.json, warnings: r.warnings };
      }
      case 'update': {
        if (route.name === undefined) throw methodNotAllowed();
        const r = this.engine.update(t, parseJsonBody(), opts);
        return r;
      }
      case 'patch':
      case 'apply': {
        if (route.name === undefined) throw methodNotAllowed();
        if (
          !Object.values(PATCH_TYPES).includes(contentType as (typeof PATCH_TYPES)[keyof typeof PATCH_TYPES])
        ) {
          throw unsupportedMediaType(
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${rt.crd ? '' : ', application/strategic-merge-patch+json'}`,
          );
        }
        const force = parseBool(q.get('force'));
        const r = this.engine.patch(t, contentType, body, force === undefined ? opts : { ...opts, force });
        return r;
      }
      case 'delete': {
        let options: JsonObject = {};
        if (body.trim() !== '') {
          try {
            const parsed = JSON.parse(body) as unknown;
            if (isObject(parsed)) options = parsed;
          } catch (e) {
            throw badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
          }
        }
        const pp = q.get('propagationPolicy');
        if (pp !== null) options.propagationPolicy = pp;
        const orphan = parseBool(q.get('orphanDependents'));
        if (orphan !== undefined) options.orphanDependents = orphan;
        const r = this.engine.delete(t, options, dryRun);
        return { code: r.code, json: r.json, warnings: [] };
      }
      case 'deletecollection': {
        if (rt.namespaced && route.namespace === undefined) throw methodNotAllowed();
        return {
          code: 200,
          json: this.engine.deleteCollection(rt, t.version, route.namespace, listOpts(), dryRun),
          warnings: [],
        };
      }
      default:
        throw methodNotAllowed();
    }
  }
}

/** Starts a stand-in on a random 127.0.0.1 port. */
export async function startKubeApi(options: KubeApiOptions = {}): Promise<KubeApiStandIn> {
  const crds = loadCrds(options.crdDir ?? DEFAULT_CRD_DIR);
  const engine = new Engine([...builtinResources(), ...crds], {
    danglingOwnerGcDelayMs: options.danglingOwnerGcDelayMs,
    ...(options.now ? { now: options.now } : {}),
    ...(options.namespaceFinalizeDelayMs !== undefined
      ? { namespaceFinalizeDelayMs: options.namespaceFinalizeDelayMs }
      : {}),
  });
  const standIn = new StandIn(engine, options.latency ?? options.latencyMs ?? 0, {
    audiences: options.tokenAudiences ?? ['https://kubernetes.default.svc.cluster.local'],
    now: options.now ?? Date.now,
    issuer: 'https://kubernetes.default.svc.cluster.local',
    ...(options.maxTokenExpirationSeconds !== undefined
      ? { maxExpirationSeconds: options.maxTokenExpirationSeconds }
      : {}),
  });
  for (const ns of options.namespaces ?? ['default']) standIn.createNamespace(ns);
  await standIn.listen();
  return standIn;
}
