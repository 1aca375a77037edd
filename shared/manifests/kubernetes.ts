import { dump } from 'js-yaml';

/** The part of a Kubernetes object every generator in this folder fills in. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** Thrown when a generator is asked for manifests that Kubernetes or Istio would reject. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  /** Every problem found, each a sentence of its own (the CLI prints them without the source). */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`${source}: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** Labels on every object these generators render (never `managed-by`: the registrar owns those). */
export const PART_OF_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/part-of': 'istio-vm-registrar',
};

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Namespace names: DNS-1123 labels of at most 63 characters. */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && dns1123Label.test(value);
}

/** Names of most objects (Roles, Services, Gateways): DNS-1123 subdomains of at most 253 characters. */
export function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && dns1123Subdomain.test(value);
}

/** Label values: at most 63 characters, alphanumeric at both ends. */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && labelValue.test(value);
}

/**
 * Serialises objects as one multi-document YAML stream (`---` between documents), ready for
 * `kubectl apply -f -`. Keys keep their insertion order; strings YAML 1.1 would misread
 * (`on`, `yes`, `1.0`) are quoted.
 */
export function toYaml(objects: readonly object[]): string {
  return objects.map((object) => dump(object, { noRefs: true })).join('---\n');
}
