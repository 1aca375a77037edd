/** Label and field selectors with the grammar and semantics of k8s.io/apimachinery/pkg/labels and fields. */
import { badRequest } from './errors.ts';
import { isQualifiedName, isValidLabelValue } from './metadata.ts';
import type { KubeObject } from './types.ts';

type Op = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

interface Requirement {
  key: string;
  op: Op;
  values: string[];
}

export type Matcher = (obj: KubeObject) => boolean;

type Token =
  | { t: 'id'; v: string }
  | { t: 'op'; v: string }
  | { t: '('; v: string }
  | { t: ')'; v: string }
  | { t: ','; v: string };

function lex(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ t: c, v: c });
      i++;
    } else if (c === '=' || c === '!' || c === '<' || c === '>') {
      const two = s.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        out.push({ t: 'op', v: two });
        i += 2;
      } else {
        out.push({ t: 'op', v: c });
        i++;
      }
    } else {
      let j = i;
      while (j < s.length && !' \t\n\r(),=!<>'.includes(s[j]!)) j++;
      out.push({ t: 'id', v: s.slice(i, j) });
      i = j;
    }
  }
  return out;
}

function parseError(message: string): never {
  throw badRequest(`unable to parse requirement: ${message}`);
}

function checkKey(key: string): void {
  const errs = isQualifiedName(key);
  if (errs.length > 0)
    parseError(`values[0][key]: Invalid value: ${JSON.stringify(key)}: ${errs.join('; ')}`);
}

function checkValue(v: string): void {
  const errs = isValidLabelValue(v);
  if (errs.length > 0) parseError(`values[0][${v}]: Invalid value: ${JSON.stringify(v)}: ${errs.join('; ')}`);
}

export function parseLabelSelector(selector: string): Requirement[] {
  const toks = lex(selector);
  const reqs: Requirement[] = [];
  let i = 0;
  const peek = (): Token | undefined => toks[i];
  while (i < toks.length) {
    let tok = toks[i++]!;
    if (tok.t === 'op' && tok.v === '!') {
      const key = toks[i++];
      if (key?.t !== 'id') parseError(`found '${key?.v ?? ''}', expected: identifier after '!'`);
      checkKey(key.v);
      reqs.push({ key: key.v, op: '!', values: [] });
    } else {
      if (tok.t !== 'id') parseError(`found '${tok.v}', expected: !, identifier, or 'end of string'`);
      const key = tok.v;
      checkKey(key);
      const next = peek();
      if (next === undefined || next.t === ',') {
        reqs.push({ key, op: 'exists', values: [] });
      } else {
        tok = toks[i++]!;
        let op: Op;
        if (tok.t === 'op' && (tok.v === '=' || tok.v === '==')) op = '=';
        else if (tok.t === 'op' && tok.v === '!=') op = '!=';
        else if (tok.t === 'op' && tok.v === '>') op = 'gt';
        else if (tok.t === 'op' && tok.v === '<') op = 'lt';
        else if (tok.t === 'id' && tok.v === 'in') op = 'in';
        else if (tok.t === 'id' && tok.v === 'notin') op = 'notin';
        else parseError(`found '${tok.v}', expected: in, notin, =, ==, !=, gt, lt`);
        const values: string[] = [];
        if (op === 'in' || op === 'notin') {
          if (toks[i++]?.t !== '(') parseError(`found '${toks[i - 1]?.v ?? ''}', expected: '('`);
          let expectValue = true;
          for (;;) {
            const t = toks[i++];
            if (t === undefined) parseError("found '', expected: ')'");
            if (t.t === ')') break;
            if (t.t === ',') {
              if (expectValue) values.push('');
              expectValue = true;
              continue;
            }
            if (t.t !== 'id' || !expectValue) parseError(`found '${t.v}', expected: ',' or ')'`);
            values.push(t.v);
            expectValue = false;
          }
          if (values.length === 0) parseError("for 'in', 'notin' operators, values set can't be empty");
        } else {
          const v = peek();
          if (v?.t === 'id') {
            values.push(v.v);
            i++;
          } else {
            values.push('');
          }
          if ((op === 'gt' || op === 'lt') && !/^-?\d+$/.test(values[0]!)) {
            parseError(`for 'Gt', 'Lt' operators, the value must be an integer`);
          }
        }
        if (op !== 'gt' && op !== 'lt') for (const v of values) checkValue(v);
        reqs.push({ key, op, values });
      }
    }
    const sep = toks[i];
    if (sep === undefined) break;
    if (sep.t !== ',') parseError(`found '${sep.v}', expected: ',' or 'end of string'`);
    i++;
    if (i >= toks.length) parseError("found '', expected: identifier");
  }
  return reqs;
}

function matchesRequirement(labels: Record<string, string>, r: Requirement): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
    case 'in':
      return has && r.values.includes(v!);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(v!);
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const n = Number(v);
      return r.op === 'gt' ? n > Number(r.values[0]) : n < Number(r.values[0]);
    }
  }
}

export function labelMatcher(selector: string | null): Matcher | undefined {
  if (selector === null || selector.trim() === '') return undefined;
  const reqs = parseLabelSelector(selector);
  if (reqs.length === 0) return undefined;
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return reqs.every((r) => matchesRequirement(labels, r));
  };
}

/** Field selectors: `metadata.name` and `metadata.namespace` (plus `status.phase` on namespaces). */
export function fieldMatcher(selector: string | null, extraFields: string[] = []): Matcher | undefined {
  if (selector === null || selector.trim() === '') return undefined;
  const allowed = ['metadata.name', 'metadata.namespace', ...extraFields];
  const tests: Matcher[] = [];
  for (const part of selector.split(',')) {
    const m = /^\s*([^!=\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (m === null) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!allowed.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    const get = (obj: KubeObject): string => {
      if (field === 'metadata.name') return obj.metadata.name ?? '';
      if (field === 'metadata.namespace') return obj.metadata.namespace ?? '';
      if (field === 'status.phase')
        return String((obj.status as Record<string, unknown> | undefined)?.phase ?? '');
      return '';
    };
    tests.push(op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value);
  }
  return (obj) => tests.every((t) => t(obj));
}
