/**
 * Wire envelopes of the two Query protocols the stand-in speaks.
 *
 * - EC2 (`ec2Query`): the result members sit directly under `<{Action}Response>`, with a
 *   lower-camel `requestId`; errors are `<Response><Errors><Error><Code/><Message/></Error></Errors>
 *   <RequestID/></Response>`.
 * - Auto Scaling (`awsQuery`): results are wrapped in `<{Action}Result>` followed by
 *   `<ResponseMetadata><RequestId/></ResponseMetadata>`; errors are
 *   `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
 *
 * The SDK reads the error `Code` and uses it as the thrown error's `name` (and `Code`).
 */
import { escapeXml } from './xml.ts';

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
export const EC2_VERSION = '2016-11-15';
export const AUTO_SCALING_XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
export const AUTO_SCALING_VERSION = '2011-01-01';

export type Service = 'ec2' | 'autoscaling';

/** An error answered in the calling service's error shape. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

export function ec2Response(action: string, requestId: string, body: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`${XML_DECL}<${action}Response xmlns="${EC2_XMLNS}"><requestId>${requestId}</requestId>`),
    body,
    Buffer.from(`</${action}Response>`),
  ]);
}

export function autoScalingResponse(action: string, requestId: string, result: string): string {
  const resultXml = result === '' ? `<${action}Result/>` : `<${action}Result>${result}</${action}Result>`;
  return `${XML_DECL}<${action}Response xmlns="${AUTO_SCALING_XMLNS}">${resultXml}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

export function errorResponse(service: Service, error: ApiError, requestId: string): string {
  const code = escapeXml(error.code);
  const message = escapeXml(error.message);
  if (service === 'ec2') {
    return `${XML_DECL}<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
  }
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return `${XML_DECL}<ErrorResponse xmlns="${AUTO_SCALING_XMLNS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}

/** Reads `Prefix.1`, `Prefix.2`, ... (stops at the first gap, like the services do). */
export function readList(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; ; i++) {
    const v = params.get(`${prefix}.${i}`);
    if (v === null) break;
    out.push(v);
  }
  return out;
}
