/**
 * Protocol 3.x messages as a client and a server put them on the wire, built by hand here (not with
 * src/protocol) so that the relay tests do not use the code under test as their own oracle.
 */

/** One message: a type byte, a length word that counts itself, and the body. */
export function message(type: number | string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const code = typeof type === 'string' ? type.charCodeAt(0) : type;
  const payload = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const m = Buffer.alloc(5 + payload.length);
  m[0] = code;
  m.writeInt32BE(4 + payload.length, 1);
  payload.copy(m, 5);
  return m;
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

/** What a client sends. */
export const fe = {
  query: (sql: string) => message('Q', cstr(sql)),
  parse: (sql: string, name = '') => message('P', Buffer.concat([cstr(name), cstr(sql), int16(0)])),
  bind: (portal = '', statement = '') => message('B', Buffer.concat([cstr(portal), cstr(statement), int16(0), int16(0), int16(0)])),
  describePortal: (portal = '') => message('D', Buffer.concat([Buffer.from('P'), cstr(portal)])),
  execute: (portal = '') => message('E', Buffer.concat([cstr(portal), int32(0)])),
  close: (name = '') => message('C', Buffer.concat([Buffer.from('S'), cstr(name)])),
  sync: () => message('S'),
  flush: () => message('H'),
  copyData: (data: string | Buffer) => message('d', data),
  copyDone: () => message('c'),
  copyFail: (why: string) => message('f', cstr(why)),
  /** FunctionCall: function oid, no argument formats, no arguments, text result. */
  functionCall: (oid = 1598) => message('F', Buffer.concat([int32(oid), int16(0), int16(0), int16(0)])),
  terminate: () => message('X'),
};

/** What a server sends. */
export const be = {
  readyForQuery: (status: 'I' | 'T' | 'E') => message('Z', status),
  rowDescription: (column = '?column?') =>
    message('T', Buffer.concat([int16(1), cstr(column), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)])),
  dataRow: (value: string | Buffer) => {
    const v = typeof value === 'string' ? Buffer.from(value) : value;
    return message('D', Buffer.concat([int16(1), int32(v.length), v]));
  },
  commandComplete: (tag: string) => message('C', cstr(tag)),
  errorResponse: (code: string, text: string) =>
    message('E', Buffer.concat([cstr(`SERROR`), cstr(`C${code}`), cstr(`M${text}`), Buffer.from([0])])),
  noticeResponse: (text: string) => message('N', Buffer.concat([cstr('SNOTICE'), cstr('C00000'), cstr(`M${text}`), Buffer.from([0])])),
  parameterStatus: (name: string, value: string) => message('S', Buffer.concat([cstr(name), cstr(value)])),
  notification: (channel: string, payload: string) => message('A', Buffer.concat([int32(4242), cstr(channel), cstr(payload)])),
  parseComplete: () => message('1'),
  bindComplete: () => message('2'),
  closeComplete: () => message('3'),
  noData: () => message('n'),
  parameterDescription: () => message('t', int16(0)),
  copyInResponse: () => message('G', Buffer.concat([Buffer.from([0]), int16(1), int16(0)])),
  functionCallResponse: (value = '42') => message('V', Buffer.concat([int32(value.length), Buffer.from(value)])),
};

export interface Frame {
  type: number;
  /** First body byte, -1 for an empty body. */
  first: number;
  /** Offset just past the message in the stream. */
  end: number;
}

/** The messages of a well-formed stream, found by walking its length words (the oracle for the scanner). */
export function frames(stream: Buffer): Frame[] {
  const out: Frame[] = [];
  let i = 0;
  while (i < stream.length) {
    const length = stream.readInt32BE(i + 1);
    out.push({ type: stream[i], first: length > 4 ? stream[i + 5] : -1, end: i + 1 + length });
    i += 1 + length;
  }
  if (i !== stream.length) throw new Error('stream ends inside a message');
  return out;
}
