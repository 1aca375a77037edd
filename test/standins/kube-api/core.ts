/**
 * core/v1 ConfigMaps, ServiceAccounts and Secrets, and the `serviceaccounts/token` subresource
 * (TokenRequest, authentication.k8s.io/v1), as a kube-apiserver 1.26 serves them: shapes from the
 * published OpenAPI document, validation of pkg/apis/core/validation (ValidateConfigMap(Update),
 * ValidateSecret) and pkg/apis/authentication/validation (ValidateTokenRequest), and the TokenREST
 * create of pkg/registry/core/serviceaccount/storage/token.go with its checks in the same order.
 */
import { randomBytes } from 'node:crypto';
import {
  badRequest,
  conflict,
  type FieldError,
  fieldError,
  forbiddenField,
  invalid,
  invalidObject,
  notFound,
} from './errors.ts';
import { deepEqual, isObject } from './json.ts';
import { subdomainName } from './metadata.ts';
import { builtinSchema } from './openapi.ts';
import type { ResourceType } from './resources.ts';
import type { JsonObject, KubeObject } from './types.ts';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const OPENAPI = 'api__v1_openapi.json';
/** core.MaxSecretSize: the data of a ConfigMap or Secret, all keys together. */
const MAX_DATA_BYTES = 1024 * 1024;

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});

/** validation.IsConfigMapKey (also Secret keys). */
function configKeyErrors(key: string): string[] {
  const errs: string[] = [];
  if (key.length > 253) errs.push('must be no more than 253 characters');
  if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
    errs.push(
      "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    );
  }
  if (key === '.') errs.push("must not be '.'");
  else if (key === '..') errs.push("must not be '..'");
  else if (key.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

function dataErrors(
  data: JsonObject,
  binary: JsonObject,
  dataPath: string,
  binaryPath: string,
): FieldError[] {
  const errs: FieldError[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(data)) {
    for (const m of configKeyErrors(key)) errs.push(invalid(`${dataPath}[${key}]`, key, m));
    if (binaryPath !== '' && key in binary) {
      errs.push(invalid(`${dataPath}[${key}]`, key, 'duplicate of key present in binaryData'));
    }
    total += Buffer.byteLength(String(value));
  }
  if (binaryPath !== '') {
    for (const [key, value] of Object.entries(binary)) {
      for (const m of configKeyErrors(key)) errs.push(invalid(`${binaryPath}[${key}]`, key, m));
      total += Buffer.from(String(value), 'base64').length;
    }
  }
  if (total > MAX_DATA_BYTES) {
    errs.push(fieldError('FieldValueTooLong', '', undefined, `must have at most ${MAX_DATA_BYTES} bytes`));
  }
  return errs;
}

/** encoding/json's error for a `[]byte` value that is not standard base64. */
function base64Error(values: JsonObject): string | undefined {
  for (const value of Object.values(values)) {
    if (typeof value !== 'string') continue;
    const bad = value.search(/[^A-Za-z0-9+/=]/);
    if (bad >= 0) return `illegal base64 data at input byte ${bad}`;
    if (value.length % 4 !== 0)
      return `illegal base64 data at input byte ${value.length - (value.length % 4)}`;
  }
  return undefined;
}

const configMap = builtinSchema(OPENAPI, 'io.k8s.api.core.v1.ConfigMap');

export const configMapType: ResourceType = {
  id: '/configmaps',
  group: '',
  versions: ['v1'],
  storageVersion: 'v1',
  plural: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  namespaced: true,
  shortNames: ['cm'],
  categories: [],
  verbs: ALL_VERBS,
  statusSubresource: false,
  crd: false,
  schemas: new Map([['v1', { root: configMap.root }]]),
  decode: (o) => configMap.decodeError(o) ?? base64Error(obj(o.binaryData)),
  nameFn: subdomainName,
  deleteReturnsObject: false,
  tracksGeneration: false,
  validate(o, old) {
    const errs: FieldError[] = [];
    if (old !== undefined && old.immutable === true) {
      const why = 'field is immutable when `immutable` is set';
      if (o.immutable !== true) errs.push(forbiddenField('immutable', why));
      if (!deepEqual(o.data ?? null, old.data ?? null)) errs.push(forbiddenField('data', why));
      if (!deepEqual(o.binaryData ?? null, old.binaryData ?? null))
        errs.push(forbiddenField('binaryData', why));
    }
    errs.push(...dataErrors(obj(o.data), obj(o.binaryData), 'data', 'binaryData'));
    return errs;
  },
};

const serviceAccount = builtinSchema(OPENAPI, 'io.k8s.api.core.v1.ServiceAccount');

export const serviceAccountType: ResourceType = {
  id: '/serviceaccounts',
  group: '',
  versions: ['v1'],
  storageVersion: 'v1',
  plural: 'serviceaccounts',
  singular: 'serviceaccount',
  kind: 'ServiceAccount',
  listKind: 'ServiceAccountList',
  namespaced: true,
  shortNames: ['sa'],
  categories: [],
  verbs: ALL_VERBS,
  statusSubresource: false,
  crd: false,
  schemas: new Map([['v1', { root: serviceAccount.root }]]),
  decode: (o) => serviceAccount.decodeError(o),
  nameFn: subdomainName,
  deleteReturnsObject: true,
  tracksGeneration: false,
  subresources: [
    { name: 'token', kind: 'TokenRequest', group: 'authentication.k8s.io', version: 'v1', verbs: ['create'] },
  ],
};

const secret = builtinSchema(OPENAPI, 'io.k8s.api.core.v1.Secret');

export const secretType: ResourceType = {
  id: '/secrets',
  group: '',
  versions: ['v1'],
  storageVersion: 'v1',
  plural: 'secrets',
  singular: 'secret',
  kind: 'Secret',
  listKind: 'SecretList',
  namespaced: true,
  shortNames: [],
  categories: [],
  verbs: ALL_VERBS,
  statusSubresource: false,
  crd: false,
  schemas: new Map([['v1', { root: secret.root }]]),
  decode: (o) => secret.decodeError(o) ?? base64Error(obj(o.data)),
  nameFn: subdomainName,
  deleteReturnsObject: false,
  tracksGeneration: false,
  prepare(o) {
    // stringData is write-only: merged into data (base64) and dropped, as the conversion does.
    const data = obj(o.data);
    for (const [key, value] of Object.entries(obj(o.stringData))) {
      data[key] = Buffer.from(String(value)).toString('base64');
    }
    delete o.stringData;
    if (Object.keys(data).length > 0) o.data = data;
    if (typeof o.type !== 'string' || o.type === '') o.type = 'Opaque';
  },
  validate(o, old) {
    const errs = dataErrors(obj(o.data), {}, 'data', '');
    if (old !== undefined && o.type !== old.type) errs.push(invalid('type', o.type, 'field is immutable'));
    return errs;
  },
};

// ---------------------------------------------------------------------------------------------
// TokenRequest

const tokenRequestSchema = builtinSchema(OPENAPI, 'io.k8s.api.authentication.v1.TokenRequest');
const TOKEN_REQUEST_GK = { group: 'authentication.k8s.io', kind: 'TokenRequest' };
/** ValidateTokenRequest bounds. */
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;

export interface TokenIssuerOptions {
  /** The API server's own audiences, given to a request that names none (`--api-audiences`). */
  readonly audiences: readonly string[];
  /** `--service-account-max-token-expiration`: longer requests are shortened, with a warning. */
  readonly maxExpirationSeconds?: number;
  /** The issuer's clock (epoch ms). */
  readonly now: () => number;
  /** `--service-account-issuer`. */
  readonly issuer: string;
}

export interface TokenLookups {
  get(rt: '/serviceaccounts' | '/secrets' | '/pods', namespace: string, name: string): KubeObject | undefined;
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const rfc3339 = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/**
 * TokenREST.Create for `POST .../namespaces/{namespace}/serviceaccounts/{name}/token`: the answer is
 * the TokenRequest with `status.token` (a JWT-shaped token whose claims are the real ones: iss, sub,
 * aud, exp, iat, nbf, kubernetes.io; the signature is random) and `status.expirationTimestamp`.
 */
export function issueToken(
  options: TokenIssuerOptions,
  lookups: TokenLookups,
  namespace: string,
  name: string,
  body: unknown,
  decodeVersion: string,
): { code: number; json: string; warnings: string[] } {
  if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
  if (body.kind !== undefined && body.kind !== 'TokenRequest') {
    throw badRequest(
      `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (authentication.k8s.io/v1)`,
    );
  }
  const decodeError = tokenRequestSchema.decodeError(body);
  if (decodeError !== undefined) {
    throw badRequest(
      `TokenRequest in version "${decodeVersion}" cannot be handled as a TokenRequest: ${decodeError}`,
    );
  }
  const meta = obj(body.metadata);
  const spec = obj(body.spec);
  // Defaulting (SetDefaults_TokenRequestSpec): one hour.
  let expirationSeconds = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
  if (typeof meta.name === 'string' && meta.name !== '' && meta.name !== name) {
    throw invalidObject(TOKEN_REQUEST_GK, name, [
      invalid('metadata.name', meta.name, 'must match the service account name if specified'),
    ]);
  }
  if (typeof meta.namespace === 'string' && meta.namespace !== '' && meta.namespace !== namespace) {
    throw invalidObject(TOKEN_REQUEST_GK, name, [
      invalid('metadata.namespace', meta.namespace, 'must match the service account namespace if specified'),
    ]);
  }
  const account = lookups.get('/serviceaccounts', namespace, name);
  if (account === undefined) throw notFound({ group: '', resource: 'serviceaccounts' }, name);
  const audiences =
    Array.isArray(spec.audiences) && spec.audiences.length > 0
      ? spec.audiences.map(String)
      : [...options.audiences];
  const errs: FieldError[] = [];
  if (expirationSeconds < MIN_EXPIRATION_SECONDS) {
    errs.push(
      invalid('spec.expirationSeconds', expirationSeconds, 'may not specify a duration less than 10 minutes'),
    );
  }
  if (expirationSeconds > MAX_EXPIRATION_SECONDS) {
    errs.push(
      invalid(
        'spec.expirationSeconds',
        expirationSeconds,
        'may not specify a duration larger than 2^32 seconds',
      ),
    );
  }
  if (errs.length > 0) throw invalidObject(TOKEN_REQUEST_GK, '', errs);

  const ref = isObject(spec.boundObjectRef) ? spec.boundObjectRef : undefined;
  let bound: { kind: 'pod' | 'secret'; name: string; uid: string } | undefined;
  if (ref !== undefined) {
    const apiVersion = String(ref.apiVersion ?? '');
    const kind = String(ref.kind ?? '');
    const slash = apiVersion.lastIndexOf('/');
    const group = slash < 0 ? '' : apiVersion.slice(0, slash);
    const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
    const refName = String(ref.name ?? '');
    let target: KubeObject | undefined;
    if (group === '' && (kind === 'Pod' || kind === 'Secret')) {
      const plural = kind === 'Pod' ? 'pods' : 'secrets';
      target = lookups.get(`/${plural}`, namespace, refName);
      if (target === undefined) throw notFound({ group: '', resource: plural }, refName);
      if (kind === 'Pod') {
        const podAccount = obj(target.spec as JsonObject | undefined).serviceAccountName;
        if (podAccount !== name) {
          throw badRequest(
            `cannot bind token for serviceaccount "${name}" to pod running with serviceaccount "${String(podAccount ?? '')}"`,
          );
        }
      }
    } else {
      throw badRequest(`cannot bind token to object of type ${group}/${version}, Kind=${kind}`);
    }
    const uid = String(target.metadata.uid ?? '');
    if (typeof ref.uid === 'string' && ref.uid !== '' && ref.uid !== uid) {
      throw conflict(
        { group, resource: kind },
        refName,
        `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    }
    bound = { kind: kind === 'Pod' ? 'pod' : 'secret', name: refName, uid };
  }

  const warnings: string[] = [];
  const max = options.maxExpirationSeconds;
  if (max !== undefined && max > 0 && expirationSeconds > max) {
    warnings.push(`requested expiration of ${expirationSeconds} seconds shortened to ${max} seconds`);
    expirationSeconds = max;
  }
  const issued = options.now();
  const issuedSeconds = Math.floor(issued / 1000);
  const expires = (issuedSeconds + expirationSeconds) * 1000;
  const claims = {
    aud: audiences,
    exp: issuedSeconds + expirationSeconds,
    iat: issuedSeconds,
    iss: options.issuer,
    'kubernetes.io': {
      namespace,
      ...(bound ? { [bound.kind]: { name: bound.name, uid: bound.uid } } : {}),
      serviceaccount: { name, uid: String(account.metadata.uid ?? '') },
    },
    nbf: issuedSeconds,
    sub: `system:serviceaccount:${namespace}:${name}`,
  };
  const token = `${b64url({ alg: 'RS256', kid: 'kube-api-standin' })}.${b64url(claims)}.${randomBytes(64).toString('base64url')}`;
  const answer = {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: rfc3339(issuedSeconds * 1000) },
    spec: {
      audiences,
      expirationSeconds,
      boundObjectRef: ref === undefined ? null : ref,
    },
    status: { token, expirationTimestamp: rfc3339(expires) },
  };
  return { code: 201, json: JSON.stringify(answer), warnings };
}
