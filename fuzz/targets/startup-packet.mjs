/**
 * Target: parseStartupPacket (src/protocol/startup-packet.ts), the first bytes every client sends.
 * Input: the bytes as they arrive (seeds: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
 * Oracle: it never throws; a packet's `length` is its length word and no more than the input; each
 * shorter prefix of a whole packet is 'incomplete' and bytes after it change nothing; a cancel
 * request's key is a copy of its bytes; and a StartupMessage read back from its own re-encoding
 * (encodeStartupMessage) gives the same version and parameters.
 */
import { isDeepStrictEqual } from 'node:util';
import { encodeStartupMessage, parseStartupPacket, TLS_HANDSHAKE_RECORD } from '../../dist/src/protocol/index.js';
import { check } from '../lib/reference-stream.mjs';

const STATUSES = ['incomplete', 'directTls', 'packet', 'invalid'];

export function fuzz(data) {
  const result = parseStartupPacket(data);
  check(STATUSES.includes(result.status), `unknown status ${result.status}`);
  if (data.length > 0 && data[0] === TLS_HANDSHAKE_RECORD) check(result.status === 'directTls', 'a TLS record was not seen');
  if (result.status !== 'packet') return;
  const { packet, length } = result;
  check(length === data.readInt32BE(0) && length <= data.length, `length ${length} is not the packet's length word`);
  for (const cut of [length - 1, 5, 4]) {
    if (cut < length) check(parseStartupPacket(data.subarray(0, cut)).status === 'incomplete', `a ${cut}-byte prefix is not incomplete`);
  }
  const whole = data.subarray(0, length);
  check(isDeepStrictEqual(parseStartupPacket(whole), result), 'bytes after the packet changed its reading');
  if (packet.kind === 'cancelRequest') {
    const scratch = Buffer.from(whole);
    const { secretKey } = parseStartupPacket(scratch).packet;
    scratch.fill(0);
    check(secretKey.equals(data.subarray(12, length)), 'the cancel key is not a copy of the packet bytes');
  }
  if (packet.kind !== 'startup') return;
  const options = Object.fromEntries(packet.protocolOptions.map((name) => [name, '']));
  const again = parseStartupPacket(encodeStartupMessage({ ...packet.parameters, ...options }, packet.minorVersion));
  check(again.status === 'packet', `its re-encoding reads as ${again.status}`);
  check(again.packet.minorVersion === packet.minorVersion, 'the minor version changed on re-encoding');
  check(isDeepStrictEqual({ ...again.packet.parameters }, { ...packet.parameters }), 'the parameters changed on re-encoding');
  check(isDeepStrictEqual(again.packet.protocolOptions, packet.protocolOptions), 'the protocol options changed on re-encoding');
}
