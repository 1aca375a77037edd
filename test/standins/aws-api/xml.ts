/**
 * XML helpers for the AWS stand-in: escaping for the string-concatenated responses, and a small
 * tokenizer-based parser used only to read DescribeInstances fixtures (no dependency).
 */

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\r': '&#13;',
};

// Characters XML 1.0 cannot carry at all (C0 controls except tab/newline/carriage return, lone
// surrogates, U+FFFE/U+FFFF) are replaced by U+FFFD so a response is always well-formed.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/gu; // with /u only lone surrogates match
const NEEDS_ESCAPE = /[&<>"'\r]/g;
const NEEDS_ANY_WORK =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: see INVALID_XML_CHARS.
  /[&<>"'\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/;

/** Escapes text for use in element content or a double-quoted attribute. */
export function escapeXml(value: string): string {
  if (!NEEDS_ANY_WORK.test(value)) return value;
  return value.replace(INVALID_XML_CHARS, '\uFFFD').replace(NEEDS_ESCAPE, (c) => XML_ESCAPES[c] ?? c);
}

/** `<name>escaped value</name>`, or nothing when the value is undefined. */
export function el(name: string, value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (entities decoded). */
  text: string;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body.startsWith('#x')) return String.fromCodePoint(Number.parseInt(body.slice(2), 16));
    if (body.startsWith('#')) return String.fromCodePoint(Number.parseInt(body.slice(1), 10));
    return NAMED_ENTITIES[body] ?? whole;
  });
}

/**
 * Parses an XML document into an element tree. Handles the declaration, comments, CDATA,
 * self-closing tags, attributes and the five predefined entities plus character references.
 * Namespaces are kept verbatim in names (`xmlns` appears as an attribute). Not a validating parser.
 */
export function parseXml(xml: string): XmlElement {
  const src = xml.replace(/\r\n?/g, '\n');
  const tokenRe =
    /<!--[\s\S]*?-->|<!\[CDATA\[([\s\S]*?)\]\]>|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<\/\s*([^\s>]+)\s*>|<([^\s/>!?]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/gy;
  const attrRe = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let index = 0;
  while (index < src.length) {
    tokenRe.lastIndex = index;
    const m = tokenRe.exec(src);
    if (!m)
      throw new Error(
        `XML parse error near offset ${index}: ${JSON.stringify(src.slice(index, index + 40))}`,
      );
    index = tokenRe.lastIndex;
    const [whole, cdata, closeName, openName, attrText, selfClose, text] = m;
    const top = stack[stack.length - 1];
    if (cdata !== undefined) {
      if (!top) throw new Error('XML parse error: CDATA outside the root element');
      top.text += cdata;
    } else if (closeName !== undefined) {
      const open = stack.pop();
      if (!open || open.name !== closeName) {
        throw new Error(`XML parse error: </${closeName}> does not close <${open?.name ?? '(nothing)'}>`);
      }
      if (stack.length === 0) root = open;
    } else if (openName !== undefined) {
      const attributes: Record<string, string> = {};
      for (const a of (attrText ?? '').matchAll(attrRe)) {
        attributes[a[1]!] = decodeEntities(a[2] ?? a[3] ?? '');
      }
      const element: XmlElement = { name: openName, attributes, children: [], text: '' };
      if (top) top.children.push(element);
      else if (root) throw new Error('XML parse error: more than one root element');
      if (selfClose) {
        if (!top) root = element;
      } else {
        stack.push(element);
      }
    } else if (text !== undefined) {
      if (top) top.text += decodeEntities(text);
      else if (text.trim() !== '') throw new Error('XML parse error: text outside the root element');
    } else if (whole.startsWith('<!--') || whole.startsWith('<?') || whole.startsWith('<!DOCTYPE')) {
      // comments, processing instructions and the doctype carry nothing we need
    }
  }
  if (stack.length > 0) throw new Error(`XML parse error: <${stack[stack.length - 1]!.name}> is not closed`);
  if (!root) throw new Error('XML parse error: no root element');
  return root;
}

/** First child element with the given name. */
export function child(parent: XmlElement | undefined, name: string): XmlElement | undefined {
  return parent?.children.find((c) => c.name === name);
}

/** All child elements with the given name. */
export function childrenNamed(parent: XmlElement | undefined, name: string): XmlElement[] {
  return parent ? parent.children.filter((c) => c.name === name) : [];
}

/** Text of a child element; undefined when the child is absent or empty (`<x/>`). */
export function childText(parent: XmlElement | undefined, name: string): string | undefined {
  const c = child(parent, name);
  if (!c) return undefined;
  const t = c.text;
  // Same rule as the SDK's parser: whitespace-only text spanning lines is formatting, not a value.
  if (t === '' || (t.trim() === '' && t.includes('\n'))) return undefined;
  return t;
}
