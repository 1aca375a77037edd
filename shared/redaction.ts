/**
 * Keeps credentials out of log lines: the EKS token, the kubeconfig and what it holds (tokens,
 * passwords, client keys) and presigned STS URLs. The logger runs every value it writes through
 * {@link redactingReplacer}, errors included, with whatever a library attached to them (request
 * options with an `Authorization` header, a kubeconfig snippet in a YAML parse error).
 *
 * Two nets: secrets the process itself made or loaded are registered ({@link registerSecret}) and
 * replaced wherever they appear; and known shapes are replaced even when unregistered.
 */

const REDACTED = '[REDACTED]';
const known = new Set<string>();

/** Object keys whose values are credentials whatever they hold. */
const SECRET_KEYS =
  /^(authorization|proxy-authorization|token|bearer-?token|access-?token|id-?token|refresh-?token|password|client-?key-?data|client-?key|x-amz-security-token|x-amz-signature|secretaccesskey|secret-?access-?key|sessiontoken|session-?token|kubeconfig)$/i;

/** Shapes of credentials inside any string. */
const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // The EKS token: `k8s-aws-v1.` + base64url of a presigned STS URL.
  [/k8s-aws-v1\.[A-Za-z0-9_\-=]+/g, `k8s-aws-v1.${REDACTED}`],
  // The presigned URL itself (decoded), its signature and session token.
  [/(X-Amz-(?:Signature|Security-Token|Credential)=)[^&\s"']+/gi, `$1${REDACTED}`],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/\-=]+/g, `$1 ${REDACTED}`],
  // A kubeconfig (or a snippet of one in a parse error): its credential fields.
  [
    /((?:^|\s|["'{,])(?:token|password|client-key-data|client-certificate-data|id-token|refresh-token)["']?\s*:\s*)["']?[^\s"',}]+/gi,
    `$1${REDACTED}`,
  ],
];

/** Registers a credential this process holds (an EKS token, a kubeconfig user's token...). */
export function registerSecret(value: string | undefined): void {
  // Short values would redact ordinary words.
  if (!value || value.length < 8 || known.has(value)) return;
  known.add(value);
  // EKS tokens are refreshed every ten minutes: keep the latest ones only.
  if (known.size > 64) known.delete(known.values().next().value as string);
}

/** `text` with every registered secret and every known credential shape replaced. */
export function redactText(text: string): string {
  let out = text;
  for (const secret of known) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A JSON.stringify replacer (the logger's `jsonReplacerFn`): redacts credential keys and strings. */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (key !== '' && SECRET_KEYS.test(key) && value !== undefined && value !== null && value !== '')
    return REDACTED;
  if (typeof value === 'string') return redactText(value);
  return value;
}
