/**
 * CRD validation rules (`x-kubernetes-validations`) evaluated with @bufbuild/cel, as the API server does
 * with cel-go: `self` (and `oldSelf` for transition rules), the standard library, the strings extension
 * and the Kubernetes helpers the fixtures may use. Each rule is parsed and planned once; a rule that
 * refers to a function this environment lacks fails at compile time instead of passing silently.
 */

import { isIP } from 'node:net';
import {
  type CelEnv,
  CelScalar,
  celEnv,
  celFunc,
  celMethod,
  isCelError,
  listType,
  parse,
  plan,
} from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';

type Planned = ReturnType<typeof plan>;

/** Functions the planner implements itself (operators and macros) rather than through the resolver. */
const BUILTIN_CALLS = new Set([
  '_&&_',
  '_||_',
  '_?_:_',
  '!_',
  '@not_strictly_false',
  'not_strictly_false',
  '_[_]',
  '_[?_]',
  'has',
  'dyn',
]);

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(bits)) return false;
  const v = isIP(ip);
  if (v === 0) return false;
  return Number(bits) <= (v === 4 ? 32 : 128);
}

function isUrl(s: string): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

const regexCache = new Map<string, RegExp>();
function jsRegex(pattern: string, flags: string): RegExp {
  const key = `${flags}:${pattern}`;
  let re = regexCache.get(key);
  if (re === undefined) {
    re = new RegExp(pattern, flags);
    regexCache.set(key, re);
  }
  return re;
}

/** Kubernetes CEL library functions (k8s.io/apiserver/pkg/cel/library) that map onto plain JS. */
const kubernetesLibrary = [
  celFunc('isIP', [CelScalar.STRING], CelScalar.BOOL, (s) => isIP(s) !== 0 && !s.includes('%')),
  celFunc('isCIDR', [CelScalar.STRING], CelScalar.BOOL, (s) => isCidr(s)),
  celFunc('isURL', [CelScalar.STRING], CelScalar.BOOL, (s) => isUrl(s)),
  celMethod('find', CelScalar.STRING, [CelScalar.STRING], CelScalar.STRING, function (pattern) {
    const m = jsRegex(pattern, 'u').exec(this);
    return m === null ? '' : m[0];
  }),
  celMethod('findAll', CelScalar.STRING, [CelScalar.STRING], listType(CelScalar.STRING), function (pattern) {
    return [...this.matchAll(jsRegex(pattern, 'gu'))].map((m) => m[0]);
  }),
];

/**
 * `matches()` with compiled patterns cached (the default engine recompiles the RE2 pattern on every call).
 * RE2 syntax is close to JS `u`-mode RegExp; leading inline flags such as `(?i)` are translated.
 */
const cachedRegexEngine = {
  compile(pattern: string): { test(text: string): boolean } {
    let flags = 'u';
    let source = pattern;
    const inline = /^\(\?([ims]+)\)/.exec(source);
    if (inline !== null) {
      flags += inline[1]!;
      source = source.slice(inline[0].length);
    }
    return jsRegex(source, flags);
  },
};

let sharedEnv: CelEnv | undefined;
function env(): CelEnv {
  sharedEnv ??= celEnv({ funcs: [...strings, ...kubernetesLibrary], re2: cachedRegexEngine });
  return sharedEnv;
}

/** Variables a CRD rule may use (type names such as `int` resolve as identifiers too). */
const ROOT_VARIABLES = new Set([
  'self',
  'oldSelf',
  'int',
  'uint',
  'double',
  'string',
  'bool',
  'bytes',
  'list',
  'map',
  'null_type',
  'type',
]);

export interface CompiledRule {
  rule: string;
  message?: string;
  messageExpression?: Planned;
  reason: string;
  fieldPath?: string;
  usesOldSelf: boolean;
  optionalOldSelf: boolean;
  evaluate: Planned;
}

export class CelCompileError extends Error {}

interface AstVisit {
  idents: Set<string>;
  calls: Set<string>;
  /** Variables introduced by macros (`all(x, ...)`, accumulators). */
  declared: Set<string>;
}

function walkAst(node: unknown, out: AstVisit): void {
  if (Array.isArray(node)) {
    for (const n of node) walkAst(n, out);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const rec = node as Record<string, unknown>;
  if (rec.$typeName === 'cel.expr.Expr.Ident' && typeof rec.name === 'string') out.idents.add(rec.name);
  if (rec.$typeName === 'cel.expr.Expr.Call' && typeof rec.function === 'string') out.calls.add(rec.function);
  if (rec.$typeName === 'cel.expr.Expr.Comprehension') {
    for (const k of ['iterVar', 'iterVar2', 'accuVar']) {
      if (typeof rec[k] === 'string' && rec[k] !== '') out.declared.add(rec[k] as string);
    }
  }
  for (const [k, v] of Object.entries(rec)) {
    if (k !== '$typeName' && typeof v === 'object') walkAst(v, out);
  }
}

function compileExpr(source: string): { planned: Planned; visit: AstVisit } {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    throw new CelCompileError(`compilation failed: ${(e as Error).message}`);
  }
  const visit: AstVisit = { idents: new Set(), calls: new Set(), declared: new Set() };
  walkAst(parsed.expr, visit);
  const undeclared = [...visit.idents].filter((i) => !ROOT_VARIABLES.has(i) && !visit.declared.has(i));
  if (undeclared.length > 0) {
    throw new CelCompileError(`compilation failed: undeclared reference to '${undeclared.join("', '")}'`);
  }
  const resolver = env().funcs;
  const unknown = [...visit.calls].filter((f) => !BUILTIN_CALLS.has(f) && resolver.find(f) === undefined);
  if (unknown.length > 0) {
    throw new CelCompileError(`compilation failed: undeclared reference to '${unknown.join("', '")}'`);
  }
  try {
    return { planned: plan(env(), parsed), visit };
  } catch (e) {
    throw new CelCompileError(`compilation failed: ${(e as Error).message}`);
  }
}

/** Compiles one `x-kubernetes-validations` entry; throws CelCompileError naming the rule if it cannot. */
export function compileRule(raw: Record<string, unknown>): CompiledRule {
  const rule = String(raw.rule ?? '');
  try {
    const { planned, visit } = compileExpr(rule);
    const compiled: CompiledRule = {
      rule,
      reason: typeof raw.reason === 'string' ? raw.reason : 'FieldValueInvalid',
      usesOldSelf: visit.idents.has('oldSelf'),
      optionalOldSelf: raw.optionalOldSelf === true,
      evaluate: planned,
    };
    if (typeof raw.message === 'string') compiled.message = raw.message;
    if (typeof raw.fieldPath === 'string') compiled.fieldPath = raw.fieldPath;
    if (typeof raw.messageExpression === 'string') {
      compiled.messageExpression = compileExpr(raw.messageExpression).planned;
    }
    return compiled;
  } catch (e) {
    throw new CelCompileError(
      `x-kubernetes-validations rule ${JSON.stringify(rule)}: ${(e as Error).message}`,
    );
  }
}

export type RuleOutcome = { ok: true } | { ok: false; message: string; evalError: boolean };

/** Runs one compiled rule. `self`/`oldSelf` must already be CEL values (see toCel in schema.ts). */
export function runRule(rule: CompiledRule, self: unknown, oldSelf: unknown, hasOld: boolean): RuleOutcome {
  const bindings: Record<string, unknown> = { self };
  if (hasOld) bindings.oldSelf = oldSelf;
  // biome-ignore lint/suspicious/noExplicitAny: bindings are CEL inputs built by toCel
  const result = rule.evaluate(bindings as any);
  if (isCelError(result)) {
    return { ok: false, evalError: true, message: `${result.message} evaluating rule: ${rule.rule}` };
  }
  if (result === true) return { ok: true };
  if (result !== false) {
    return { ok: false, evalError: true, message: `rule did not evaluate to a bool: ${rule.rule}` };
  }
  if (rule.messageExpression !== undefined) {
    // biome-ignore lint/suspicious/noExplicitAny: same bindings as the rule
    const m = rule.messageExpression(bindings as any);
    if (typeof m === 'string' && m.trim() !== '') return { ok: false, evalError: false, message: m };
  }
  return { ok: false, evalError: false, message: rule.message ?? `failed rule: ${rule.rule}` };
}
