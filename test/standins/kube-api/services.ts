/**
 * core/v1 Services and discovery.k8s.io/v1 EndpointSlices as a kube-apiserver 1.26 registry treats them:
 * shape from the published OpenAPI documents, defaults (pkg/apis/core/v1/defaults.go,
 * pkg/apis/discovery/v1/defaults.go), cluster IP and node port allocation of a single-stack IPv4 cluster
 * (service CIDR 10.96.0.0/16, node ports 30000-32767), and the checks of pkg/apis/core/validation and
 * pkg/apis/discovery/validation with their wording.
 */
import { isIP } from 'node:net';
import {
  type FieldError,
  fieldError,
  forbiddenField,
  GoLiteral,
  goStrings,
  invalid,
  invalidObject,
  required,
} from './errors.ts';
import { deepClone, deepEqual, isObject } from './json.ts';
import {
  dns1035LabelName,
  isDns1123Label,
  isDns1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  subdomainName,
  validateLabels,
} from './metadata.ts';
import { builtinSchema } from './openapi.ts';
import type { Allocator, ResourceType } from './resources.ts';
import type { JsonObject } from './types.ts';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const SERVICE_CIDR = '10.96.0.0/16';
export const NODE_PORT_RANGE: [number, number] = [30000, 32767];

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const quoted = (vs: string[]): string => vs.map((v) => `"${v}"`).join(', ');
const notSupported = (field: string, value: unknown, supported: string[]): FieldError =>
  fieldError('FieldValueNotSupported', field, value, `supported values: ${quoted(supported)}`);

// ---- IP helpers (netutils.ParseIPSloppy and net.IP predicates) ----

function ipv4Octets(ip: string): number[] | undefined {
  const m = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(ip);
  if (m === null) return undefined;
  const o = m.slice(1).map(Number);
  return o.every((n) => n <= 255) ? o : undefined;
}

function parsesAsIP(ip: string): boolean {
  return ipv4Octets(ip) !== undefined || (isIP(ip) === 6 && !ip.includes('%'));
}

function isIPv4(ip: string): boolean {
  return ipv4Octets(ip) !== undefined;
}

function isIPv6(ip: string): boolean {
  return parsesAsIP(ip) && !isIPv4(ip);
}

const IS_VALID_IP = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';

/** ValidateNonSpecialIP: addresses that cannot be a Service's or an endpoint's. */
function nonSpecialIP(ip: string, path: string): FieldError[] {
  if (!parsesAsIP(ip)) return [invalid(path, ip, 'must be a valid IP address')];
  const errs: FieldError[] = [];
  const v4 = ipv4Octets(ip);
  const lower = ip.toLowerCase();
  const unspecified = v4 !== undefined ? v4.every((n) => n === 0) : /^[0:]+$/.test(lower);
  const loopback = v4 !== undefined ? v4[0] === 127 : /^[0:]*:0*1$/.test(lower);
  const linkLocal = v4 !== undefined ? v4[0] === 169 && v4[1] === 254 : /^fe[89ab]/.test(lower);
  const llMulticast =
    v4 !== undefined ? v4[0] === 224 && v4[1] === 0 && v4[2] === 0 : /^ff[0-9a-f]2:/.test(lower);
  if (unspecified) errs.push(invalid(path, ip, `may not be unspecified (${ip})`));
  if (loopback) errs.push(invalid(path, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (linkLocal)
    errs.push(invalid(path, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (llMulticast)
    errs.push(invalid(path, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  return errs;
}

function inServiceCidr(ip: string): boolean {
  const o = ipv4Octets(ip);
  return o !== undefined && o[0] === 10 && o[1] === 96;
}

// ---- shared field checks ----

function dns1123Label(value: string, path: string): FieldError[] {
  return isDns1123Label(value).map((m) => invalid(path, value, m));
}

/** validation.IsValidPortName: an IANA_SVC_NAME. */
function portNameErrors(port: string): string[] {
  const errs: string[] = [];
  if (port.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(port))
    errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  else if (!/[a-z]/.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.length > 0 && (port.startsWith('-') || port.endsWith('-')))
    errs.push('must not begin or end with a hyphen');
  return errs;
}

const PORT_RANGE = 'must be between 1 and 65535, inclusive';
const validPort = (n: unknown): boolean =>
  typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

// ---------------------------------------------------------------------------------------------
// Services

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const needsClusterIP = (spec: JsonObject): boolean => spec.type !== 'ExternalName';
const needsNodePort = (spec: JsonObject): boolean =>
  spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
const isHeadless = (spec: JsonObject): boolean => spec.clusterIP === 'None';
const externallyAccessible = (spec: JsonObject): boolean =>
  spec.type === 'LoadBalancer' ||
  spec.type === 'NodePort' ||
  (spec.type === 'ClusterIP' && list(spec.externalIPs).length > 0);

/** SetDefaults_Service and SetDefaults_ServicePort (decode time: every write). */
function defaultService(spec: JsonObject): void {
  if (str(spec.sessionAffinity) === '') spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = obj(spec.sessionAffinityConfig);
    const clientIP = obj(cfg.clientIP);
    clientIP.timeoutSeconds ??= 10800;
    cfg.clientIP = clientIP;
    spec.sessionAffinityConfig = cfg;
  }
  if (str(spec.type) === '') spec.type = 'ClusterIP';
  for (const p of list(spec.ports)) {
    if (!isObject(p)) continue;
    if (str(p.protocol) === '') p.protocol = 'TCP';
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && str(spec.externalTrafficPolicy) === '')
    spec.externalTrafficPolicy = 'Cluster';
  if (spec.type !== 'ExternalName') spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
}

const sameList = (a: unknown, b: unknown): boolean => deepEqual(a ?? [], b ?? []);

/** Strategy PrepareForUpdate: patchAllocatedValues, normalizeClusterIPs, dropTypeDependentFields. */
function carryOver(spec: JsonObject, old: JsonObject): void {
  if (needsClusterIP(old) && needsClusterIP(spec)) {
    if (str(spec.clusterIP) === '' && old.clusterIP !== undefined) spec.clusterIP = old.clusterIP;
    if (list(spec.clusterIPs).length === 0 && list(old.clusterIPs).length > 0)
      spec.clusterIPs = deepClone(old.clusterIPs);
  }
  if (needsNodePort(old) && needsNodePort(spec)) {
    for (const p of list(spec.ports)) {
      if (!isObject(p) || (p.nodePort !== undefined && p.nodePort !== 0)) continue;
      const was = list(old.ports).find(
        (o) => isObject(o) && o.port === p.port && o.protocol === p.protocol && o.nodePort !== undefined,
      );
      if (isObject(was)) p.nodePort = was.nodePort;
    }
  }
  if (spec.clusterIP !== old.clusterIP && sameList(spec.clusterIPs, old.clusterIPs)) {
    if (str(spec.clusterIP) === '') delete spec.clusterIPs;
    else spec.clusterIPs = [spec.clusterIP];
  }
  if (needsClusterIP(old) && !needsClusterIP(spec)) {
    if (spec.clusterIP === old.clusterIP && sameList(spec.clusterIPs, old.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (sameList(spec.ipFamilies, old.ipFamilies)) delete spec.ipFamilies;
    if (spec.ipFamilyPolicy === old.ipFamilyPolicy) delete spec.ipFamilyPolicy;
  }
  if (needsNodePort(old) && !needsNodePort(spec)) {
    for (const p of list(spec.ports)) {
      if (!isObject(p)) continue;
      const was = list(old.ports).find((o) => isObject(o) && o.port === p.port && o.protocol === p.protocol);
      if (isObject(was) && was.nodePort === p.nodePort) delete p.nodePort;
    }
  }
  if (!externallyAccessible(spec) && spec.externalTrafficPolicy === old.externalTrafficPolicy)
    delete spec.externalTrafficPolicy;
}

/** The REST allocator: IP families, cluster IPs and node ports (errors as the allocator words them). */
function allocate(name: string, spec: JsonObject, alloc: Allocator, isNew: boolean): void {
  if (!needsClusterIP(spec)) return;
  const errs: FieldError[] = [];
  if (spec.ipFamilyPolicy === undefined) {
    spec.ipFamilyPolicy =
      isHeadless(spec) && Object.keys(obj(spec.selector)).length === 0 ? 'RequireDualStack' : 'SingleStack';
  } else if (spec.ipFamilyPolicy === 'RequireDualStack' && !isHeadless(spec)) {
    errs.push(
      invalid(
        'spec.ipFamilyPolicy',
        spec.ipFamilyPolicy,
        'this cluster is not configured for dual-stack services',
      ),
    );
  }
  if (list(spec.ipFamilies).length === 0) spec.ipFamilies = ['IPv4'];
  if (str(spec.clusterIP) !== '' && list(spec.clusterIPs).length === 0) spec.clusterIPs = [spec.clusterIP];
  if (str(spec.clusterIP) === '' && list(spec.clusterIPs).length === 0) {
    const ip = alloc.clusterIP();
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
  } else if (isNew && isIPv4(str(spec.clusterIP)) && spec.clusterIP === list(spec.clusterIPs)[0]) {
    const ip = str(spec.clusterIP);
    const why = !inServiceCidr(ip)
      ? `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${SERVICE_CIDR}`
      : alloc.clusterIPInUse(ip)
        ? 'provided IP is already allocated'
        : undefined;
    if (why !== undefined)
      errs.push(
        invalid('spec.clusterIPs', goStrings(spec.clusterIPs), `failed to allocate IP ${ip}: ${why}`),
      );
  }
  if (needsNodePort(spec)) {
    list(spec.ports).forEach((p, i) => {
      if (!isObject(p)) return;
      if (p.nodePort === undefined || p.nodePort === 0) {
        p.nodePort = alloc.nodePort();
      } else if (isNew && typeof p.nodePort === 'number') {
        const [lo, hi] = NODE_PORT_RANGE;
        if (p.nodePort < lo || p.nodePort > hi) {
          errs.push(
            invalid(
              `spec.ports[${i}].nodePort`,
              p.nodePort,
              `provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`,
            ),
          );
        } else if (alloc.nodePortInUse(p.nodePort)) {
          errs.push(invalid(`spec.ports[${i}].nodePort`, p.nodePort, 'provided port is already allocated'));
        }
      }
    });
  }
  if (errs.length > 0) throw invalidObject({ group: '', kind: 'Service' }, name, errs);
}

function servicePortLiteral(p: JsonObject): GoLiteral {
  return new GoLiteral(
    `core.ServicePort{Name:"", Protocol:${JSON.stringify(str(p.protocol))}, AppProtocol:(*string)(nil), Port:${Number(p.port ?? 0)}, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`,
  );
}

function validateServicePort(
  p: JsonObject,
  requireName: boolean,
  names: Set<string>,
  path: string,
): FieldError[] {
  const errs: FieldError[] = [];
  const name = str(p.name);
  if (requireName && name === '') errs.push(required(`${path}.name`));
  else if (name !== '') {
    errs.push(...dns1123Label(name, `${path}.name`));
    if (names.has(name)) errs.push(fieldError('FieldValueDuplicate', `${path}.name`, name));
    else names.add(name);
  }
  if (!validPort(p.port)) errs.push(invalid(`${path}.port`, p.port ?? 0, PORT_RANGE));
  if (str(p.protocol) === '') errs.push(required(`${path}.protocol`));
  else if (!PROTOCOLS.includes(str(p.protocol)))
    errs.push(notSupported(`${path}.protocol`, p.protocol, PROTOCOLS));
  const tp = p.targetPort;
  if (typeof tp === 'number') {
    if (!validPort(tp)) errs.push(invalid(`${path}.targetPort`, tp, PORT_RANGE));
  } else if (typeof tp === 'string') {
    for (const m of portNameErrors(tp)) errs.push(invalid(`${path}.targetPort`, tp, m));
  }
  if (typeof p.appProtocol === 'string') {
    for (const m of isQualifiedName(p.appProtocol))
      errs.push(invalid(`${path}.appProtocol`, p.appProtocol, m));
  }
  return errs;
}

/** validateServiceClusterIPsRelatedFields. */
function validateClusterIPs(spec: JsonObject): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const ips = list(spec.clusterIPs).map(String);
  const shownIPs = goStrings(spec.clusterIPs);
  if (str(spec.clusterIP) !== '') {
    if (ips.length === 0) errs.push(required('spec.clusterIPs'));
    else if (ips[0] !== spec.clusterIP)
      errs.push(invalid('spec.clusterIPs', shownIPs, 'first value must match `clusterIP`'));
  } else if (ips.length !== 0) {
    errs.push(invalid('spec.clusterIPs', shownIPs, 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  list(spec.ipFamilies).forEach((f, i) => {
    const fam = String(f);
    if (!['IPv4', 'IPv6'].includes(fam))
      errs.push(notSupported(`spec.ipFamilies[${i}]`, fam, ['IPv4', 'IPv6']));
    if (seen.has(fam)) errs.push(fieldError('FieldValueDuplicate', `spec.ipFamilies[${i}]`, fam));
    seen.add(fam);
  });
  const policies = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
  if (spec.ipFamilyPolicy !== undefined && !policies.includes(str(spec.ipFamilyPolicy)))
    errs.push(notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, policies));
  let badIPs = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        badIPs = true;
        errs.push(invalid('spec.clusterIPs', shownIPs, "'None' must be the first and only value"));
      }
      return;
    }
    if (!parsesAsIP(ip)) {
      badIPs = true;
      errs.push(invalid(`spec.clusterIPs[${i}]`, ip, IS_VALID_IP));
    }
  });
  if (ips.length > 2) errs.push(invalid('spec.clusterIPs', shownIPs, 'may only hold up to 2 values'));
  if (badIPs) return errs;
  if (ips.length > 1 && isIPv4(ips[0]!) === isIPv4(ips[1]!))
    errs.push(invalid('spec.clusterIPs', shownIPs, 'may specify no more than one IP for each IP family'));
  if (!isHeadless(spec)) {
    const fams = list(spec.ipFamilies).map(String);
    ips.forEach((ip, i) => {
      if (i >= fams.length) return;
      if (fams[i] === 'IPv4' && isIPv6(ip))
        errs.push(
          invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``),
        );
      if (fams[i] === 'IPv6' && !isIPv6(ip))
        errs.push(
          invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``),
        );
    });
  }
  return errs;
}

/** ValidateService (after ObjectMeta, which the engine checks). */
function validateService(spec: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  const ports = list(spec.ports);
  if (ports.length === 0 && !isHeadless(spec) && spec.type !== 'ExternalName')
    errs.push(required('spec.ports'));
  if (spec.type === 'ExternalName') {
    if (list(spec.clusterIPs).length > 0)
      errs.push(forbiddenField('spec.clusterIPs', 'may not be set for ExternalName services'));
    if (list(spec.ipFamilies).length > 0)
      errs.push(forbiddenField('spec.ipFamilies', 'may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy !== undefined)
      errs.push(forbiddenField('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    const cname = str(spec.externalName).replace(/\.$/, '');
    if (cname === '') errs.push(required('spec.externalName'));
    else for (const m of isDns1123Subdomain(cname)) errs.push(invalid('spec.externalName', cname, m));
  }
  const names = new Set<string>();
  ports.forEach((p, i) => {
    errs.push(...validateServicePort(obj(p), ports.length > 1, names, `spec.ports[${i}]`));
  });
  if (spec.selector !== undefined) errs.push(...validateLabels(spec.selector, 'spec.selector'));
  const affinities = ['ClientIP', 'None'];
  if (str(spec.sessionAffinity) === '') errs.push(required('spec.sessionAffinity'));
  else if (!affinities.includes(str(spec.sessionAffinity)))
    errs.push(notSupported('spec.sessionAffinity', spec.sessionAffinity, affinities));
  if (spec.sessionAffinity === 'ClientIP') {
    const t = obj(obj(spec.sessionAffinityConfig).clientIP).timeoutSeconds;
    if (typeof t !== 'number' || t <= 0 || t > 86400)
      errs.push(
        invalid(
          'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
          t ?? 0,
          'must be greater than 0 and less than 86400',
        ),
      );
  } else if (spec.sessionAffinity === 'None' && spec.sessionAffinityConfig !== undefined) {
    errs.push(forbiddenField('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  errs.push(...validateClusterIPs(spec));
  list(spec.externalIPs).forEach((ip, i) => {
    const s = String(ip);
    if (!parsesAsIP(s)) errs.push(invalid(`spec.externalIPs[${i}]`, s, IS_VALID_IP));
    else errs.push(...nonSpecialIP(s, `spec.externalIPs[${i}]`));
  });
  if (str(spec.type) === '') errs.push(required('spec.type'));
  else if (!SERVICE_TYPES.includes(str(spec.type)))
    errs.push(notSupported('spec.type', spec.type, SERVICE_TYPES));
  if (spec.type === 'ClusterIP') {
    ports.forEach((p, i) => {
      const np = obj(p).nodePort;
      if (np !== undefined && np !== 0)
        errs.push(forbiddenField(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const nodePorts = new Set<string>();
  ports.forEach((raw, i) => {
    const p = obj(raw);
    if (p.nodePort === undefined || p.nodePort === 0) return;
    const key = `${str(p.protocol)}/${String(p.nodePort)}`;
    if (nodePorts.has(key))
      errs.push(fieldError('FieldValueDuplicate', `spec.ports[${i}].nodePort`, p.nodePort));
    nodePorts.add(key);
  });
  const seen = new Set<string>();
  ports.forEach((raw, i) => {
    const p = obj(raw);
    const key = `${str(p.protocol)}/${String(p.port)}`;
    if (seen.has(key))
      errs.push(fieldError('FieldValueDuplicate', `spec.ports[${i}]`, servicePortLiteral(p)));
    seen.add(key);
  });
  const etp = spec.externalTrafficPolicy;
  if (!externallyAccessible(spec)) {
    if (str(etp) !== '')
      errs.push(
        invalid('spec.externalTrafficPolicy', etp, 'may only be set for externally-accessible services'),
      );
  } else if (str(etp) === '') {
    errs.push(required('spec.externalTrafficPolicy'));
  } else if (!['Cluster', 'Local'].includes(str(etp))) {
    errs.push(notSupported('spec.externalTrafficPolicy', etp, ['Cluster', 'Local']));
  }
  const itp = spec.internalTrafficPolicy;
  if (itp === undefined) {
    if (['NodePort', 'LoadBalancer', 'ClusterIP'].includes(str(spec.type)))
      errs.push(required('spec.internalTrafficPolicy'));
  } else if (!['Cluster', 'Local'].includes(str(itp))) {
    errs.push(notSupported('spec.internalTrafficPolicy', itp, ['Cluster', 'Local']));
  }
  return errs;
}

/** validateUpgradeDowngradeClusterIPs (single-stack part). */
function validateClusterIPsUpdate(spec: JsonObject, old: JsonObject): FieldError[] {
  if (spec.type === 'ExternalName' || old.type === 'ExternalName') return [];
  if (isHeadless(spec) && isHeadless(old)) return [];
  const errs: FieldError[] = [];
  const was = list(old.clusterIPs);
  const now = list(spec.clusterIPs);
  const shown = goStrings(spec.clusterIPs);
  if (was.length === now.length) {
    was.forEach((ip, i) => {
      if (ip !== now[i]) errs.push(invalid(`spec.clusterIPs[${i}]`, shown, 'may not change once set'));
    });
  } else if (was.length > now.length) {
    if (now.length === 0)
      errs.push(invalid('spec.clusterIPs[0]', shown, 'primary clusterIP can not be unset'));
    else if (now[0] !== was[0]) errs.push(invalid('spec.clusterIPs[0]', shown, 'may not change once set'));
  } else if (was.length > 0 && now[0] !== was[0]) {
    errs.push(invalid('spec.clusterIPs[0]', shown, 'may not change once set'));
  }
  return errs;
}

const service = builtinSchema('api__v1_openapi.json', 'io.k8s.api.core.v1.Service');

export const serviceType: ResourceType = {
  id: '/services',
  group: '',
  versions: ['v1'],
  storageVersion: 'v1',
  plural: 'services',
  singular: 'service',
  kind: 'Service',
  listKind: 'ServiceList',
  namespaced: true,
  shortNames: ['svc'],
  categories: ['all'],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  statusSubresource: true,
  crd: false,
  schemas: new Map([['v1', { root: service.root }]]),
  decode: (o) => service.decodeError(o),
  nameFn: dns1035LabelName,
  deleteReturnsObject: true,
  tracksGeneration: false,
  prepare(o, old, alloc) {
    const spec = obj(o.spec);
    o.spec = spec;
    defaultService(spec);
    const oldSpec = old === undefined ? undefined : obj(old.spec);
    if (oldSpec !== undefined) carryOver(spec, oldSpec);
    o.status = old !== undefined && isObject(old.status) ? deepClone(old.status) : { loadBalancer: {} };
    allocate(str(obj(o.metadata).name), spec, alloc, old === undefined);
  },
  validate(o, old) {
    const spec = obj(o.spec);
    const errs = old === undefined ? [] : validateClusterIPsUpdate(spec, obj(old.spec));
    return [...errs, ...validateService(spec)];
  },
};

// ---------------------------------------------------------------------------------------------
// EndpointSlices

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;
const MAX_PORTS = 20000;
const MAX_TOPOLOGY_LABELS = 16;
const MAX_ZONE_HINTS = 8;

/** validation.IsFullyQualifiedDomainName. */
function fqdnErrors(path: string, name: string): FieldError[] {
  if (name === '') return [required(path)];
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  const sub = isDns1123Subdomain(n);
  if (sub.length > 0) return [invalid(path, n, sub.join(','))];
  const labels = n.split('.');
  if (labels.length < 2)
    return [invalid(path, n, 'should be a domain with at least two segments separated by dots')];
  for (const l of labels) {
    const e = isDns1123Label(l);
    if (e.length > 0) return [invalid(path, l, e.join(','))];
  }
  return [];
}

function validateEndpoints(endpoints: unknown[], addressType: unknown): FieldError[] {
  if (endpoints.length > MAX_ENDPOINTS)
    return [
      fieldError(
        'FieldValueTooMany',
        'endpoints',
        endpoints.length,
        `must have at most ${MAX_ENDPOINTS} items`,
      ),
    ];
  const errs: FieldError[] = [];
  endpoints.forEach((raw, i) => {
    const e = obj(raw);
    const path = `endpoints[${i}]`;
    const addresses = list(e.addresses);
    if (addresses.length === 0) errs.push(required(`${path}.addresses`, 'must contain at least 1 address'));
    else if (addresses.length > MAX_ADDRESSES)
      errs.push(
        fieldError(
          'FieldValueTooMany',
          `${path}.addresses`,
          addresses.length,
          `must have at most ${MAX_ADDRESSES} items`,
        ),
      );
    addresses.forEach((a, j) => {
      const addr = String(a);
      const ap = `${path}.addresses[${j}]`;
      if (addressType === 'IPv4') {
        if (!isIPv4(addr)) errs.push(invalid(ap, addr, 'must be a valid IPv4 address'));
        errs.push(...nonSpecialIP(addr, ap));
      } else if (addressType === 'IPv6') {
        if (!isIPv6(addr)) errs.push(invalid(ap, addr, 'must be a valid IPv6 address'));
        errs.push(...nonSpecialIP(addr, ap));
      } else if (addressType === 'FQDN') {
        errs.push(...fqdnErrors(ap, addr));
      }
    });
    if (typeof e.nodeName === 'string') {
      for (const m of subdomainName(e.nodeName, false)) errs.push(invalid(`${path}.nodeName`, e.nodeName, m));
    }
    const topology = obj(e.deprecatedTopology);
    if (Object.keys(topology).length > MAX_TOPOLOGY_LABELS)
      errs.push(
        fieldError(
          'FieldValueTooMany',
          `${path}.deprecatedTopology`,
          Object.keys(topology).length,
          `must have at most ${MAX_TOPOLOGY_LABELS} items`,
        ),
      );
    errs.push(...validateLabels(topology, `${path}.deprecatedTopology`));
    if (typeof e.hostname === 'string') errs.push(...dns1123Label(e.hostname, `${path}.hostname`));
    if (isObject(e.hints)) {
      const zones = list(e.hints.forZones);
      if (zones.length > MAX_ZONE_HINTS) {
        errs.push(
          fieldError(
            'FieldValueTooMany',
            `${path}.hints.forZones`,
            zones.length,
            `must have at most ${MAX_ZONE_HINTS} items`,
          ),
        );
      } else {
        const seen = new Set<string>();
        zones.forEach((z, k) => {
          const zp = `${path}.hints.forZones[${k}].name`;
          const name = str(obj(z).name);
          if (seen.has(name)) errs.push(fieldError('FieldValueDuplicate', zp, name));
          seen.add(name);
          for (const m of isValidLabelValue(name)) errs.push(invalid(zp, name, m));
        });
      }
    }
  });
  return errs;
}

function validateSlicePorts(ports: unknown[]): FieldError[] {
  if (ports.length > MAX_PORTS)
    return [fieldError('FieldValueTooMany', 'ports', ports.length, `must have at most ${MAX_PORTS} items`)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((raw, i) => {
    const p = obj(raw);
    const path = `ports[${i}]`;
    const name = str(p.name);
    if (name !== '') errs.push(...dns1123Label(name, `${path}.name`));
    if (names.has(name)) errs.push(fieldError('FieldValueDuplicate', `${path}.name`, name));
    else names.add(name);
    if (p.protocol === undefined) errs.push(required(`${path}.protocol`));
    else if (!PROTOCOLS.includes(str(p.protocol)))
      errs.push(notSupported(`${path}.protocol`, p.protocol, PROTOCOLS));
    if (typeof p.appProtocol === 'string') {
      for (const m of isQualifiedName(p.appProtocol))
        errs.push(invalid(`${path}.appProtocol`, p.appProtocol, m));
    }
  });
  return errs;
}

const endpointSlice = builtinSchema(
  'apis__discovery.k8s.io__v1_openapi.json',
  'io.k8s.api.discovery.v1.EndpointSlice',
);

export const endpointSliceType: ResourceType = {
  id: 'discovery.k8s.io/endpointslices',
  group: 'discovery.k8s.io',
  versions: ['v1'],
  storageVersion: 'v1',
  plural: 'endpointslices',
  singular: 'endpointslice',
  kind: 'EndpointSlice',
  listKind: 'EndpointSliceList',
  namespaced: true,
  shortNames: [],
  categories: [],
  verbs: ALL_VERBS,
  statusSubresource: false,
  crd: false,
  schemas: new Map([['v1', { root: endpointSlice.root }]]),
  decode: (o) => endpointSlice.decodeError(o),
  nameFn: subdomainName,
  deleteReturnsObject: false,
  tracksGeneration: true,
  prepare(o) {
    for (const p of list(o.ports)) {
      if (!isObject(p)) continue;
      p.name ??= '';
      p.protocol ??= 'TCP';
    }
    for (const e of list(o.endpoints)) if (isObject(e)) e.conditions ??= {};
  },
  validate(o, old) {
    const errs: FieldError[] = [];
    if (str(o.addressType) === '') errs.push(required('addressType'));
    else if (!ADDRESS_TYPES.includes(str(o.addressType)))
      errs.push(notSupported('addressType', o.addressType, ADDRESS_TYPES));
    errs.push(...validateEndpoints(list(o.endpoints), o.addressType));
    errs.push(...validateSlicePorts(list(o.ports)));
    if (old !== undefined && o.addressType !== old.addressType)
      errs.push(invalid('addressType', o.addressType ?? '', 'field is immutable'));
    return errs;
  },
};
