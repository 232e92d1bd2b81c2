/**
 * Target: ScramServerSession (src/auth/scram-server.ts), gatehouse checking a client's SCRAM-SHA-256.
 * Input: three parts (see takeParts in fuzz/lib/input.mjs): the mechanism name, the
 * client-first-message, the client-final-message. The server nonce and the user's secret are
 * fixed, so a seed holding a real exchange for password "pencil" logs in.
 * Oracle: every failure is a ProxyError with one of the codes below, never another exception; a
 * server-first-message extends the client's nonce with the server's and names the salt and
 * iteration count; a success answers "v=" with the server signature the RFC 5802 formula gives
 * and recovers the ClientKey whose hash is the StoredKey.
 */
import { createHash, createHmac } from 'node:crypto';
import { deriveScramSecret, ScramServerSession } from '../../dist/src/auth/index.js';
import { ProxyError } from '../../dist/src/protocol/index.js';
import { takeParts } from '../lib/input.mjs';
import { check, expectProxyError } from '../lib/reference-stream.mjs';

export const SERVER_NONCE = '3rfcNHYJY1ZVvWVs7j';
export const SECRET = deriveScramSecret('pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 });
const CODES = [
  'auth.sasl_mechanism_unsupported',
  'auth.channel_binding_unsupported',
  'auth.scram_malformed',
  'auth.scram_authzid_unsupported',
  'auth.scram_extension_unsupported',
  'auth.failed',
];

export function fuzz(data) {
  const [mechanism, clientFirst, clientFinal] = takeParts(data, 3);
  const session = new ScramServerSession('alice', SECRET, { nonce: SERVER_NONCE });
  let serverFirst;
  try {
    serverFirst = session.handleClientFirst(mechanism.toString('latin1'), clientFirst).toString('latin1');
  } catch (error) {
    expectProxyError(error, ProxyError, CODES);
    return;
  }
  const nonce = /^r=([^,]*),s=([^,]*),i=([0-9]+)$/.exec(serverFirst);
  check(nonce !== null && nonce[1].endsWith(SERVER_NONCE) && nonce[1].length > SERVER_NONCE.length, `server-first ${serverFirst}`);
  check(nonce[2] === SECRET.salt.toString('base64') && Number(nonce[3]) === SECRET.iterations, 'wrong salt or iteration count');
  check(clientFirst.toString('latin1').includes(`r=${nonce[1].slice(0, -SERVER_NONCE.length)}`), 'the client nonce was not taken from the message');
  let serverFinal;
  try {
    serverFinal = session.handleClientFinal(clientFinal).toString('latin1');
  } catch (error) {
    expectProxyError(error, ProxyError, CODES);
    check(session.recoveredClientKey === null, 'a failed exchange recovered a ClientKey');
    return;
  }
  const bare = clientFirst.toString('latin1').replace(/^[ny],,/, '');
  const final = clientFinal.toString('latin1');
  const authMessage = `${bare},${serverFirst},${final.slice(0, final.lastIndexOf(','))}`;
  const signature = createHmac('sha256', SECRET.serverKey).update(Buffer.from(authMessage, 'latin1')).digest('base64');
  check(serverFinal === `v=${signature}`, `server-final ${serverFinal}`);
  const clientKey = session.recoveredClientKey;
  check(clientKey !== null && createHash('sha256').update(clientKey).digest().equals(SECRET.storedKey), 'no valid ClientKey recovered');
}
