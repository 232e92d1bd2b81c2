/**
 * Target: ScramClientSession (src/auth/scram-client.ts), gatehouse logging in to PostgreSQL.
 * Input: one byte choosing the credential (even: the password "pencil" with at most 64 PBKDF2
 * iterations, to keep runs fast; odd: passthrough keys for the secret with salt W22ZaJ0SNY7soEsUEjb6gQ==
 * and 4096 iterations), then two parts (see takeParts): server-first-message, server-final-message.
 * The client nonce is fixed, so seeds hold real exchanges.
 * Oracle: every failure is a ProxyError 'server.scram_malformed' or 'server.auth_failed', never
 * another exception; a client-final-message repeats the server's nonce after c=biws and ends with a
 * 32-byte proof; a server-final-message is accepted only when it carries the signature the RFC 5802
 * formula gives for the credential's ServerKey, and always when it carries exactly that one.
 */
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { deriveScramSecret, ScramClientSession } from '../../dist/src/auth/index.js';
import { ProxyError } from '../../dist/src/protocol/index.js';
import { takeParts } from '../lib/input.mjs';
import { check, expectProxyError } from '../lib/reference-stream.mjs';

export const CLIENT_NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SALT = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
const salted = pbkdf2Sync('pencil', SALT, 4096, 32, 'sha256');
const KEYS = {
  clientKey: createHmac('sha256', salted).update('Client Key').digest(),
  serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  salt: SALT,
  iterations: 4096,
};
const CODES = ['server.scram_malformed', 'server.auth_failed'];

function serverKeyFor(passthrough, serverFirst) {
  if (passthrough) return KEYS.serverKey;
  const [, salt, iterations] = /,s=([^,]*),i=([0-9]+)$/.exec(serverFirst);
  return deriveScramSecret('pencil', { salt: Buffer.from(salt, 'base64'), iterations: Number(iterations) }).serverKey;
}

export function fuzz(data) {
  if (data.length < 1) return;
  const passthrough = data[0] % 2 === 1;
  const [serverFirst, serverFinal] = takeParts(data.subarray(1), 2);
  const session = new ScramClientSession(passthrough ? KEYS : 'pencil', { nonce: CLIENT_NONCE, maxIterations: 64 });
  check(session.clientFirst().toString('latin1') === `n,,n=,r=${CLIENT_NONCE}`, 'unexpected client-first-message');
  let clientFinal;
  try {
    clientFinal = session.handleServerFirst(serverFirst).toString('latin1');
  } catch (error) {
    expectProxyError(error, ProxyError, CODES);
    return;
  }
  const first = serverFirst.toString('latin1');
  const nonce = first.slice(2, first.indexOf(','));
  check(clientFinal.startsWith(`c=biws,r=${nonce},p=`), `client-final ${clientFinal}`);
  check(Buffer.from(clientFinal.slice(clientFinal.lastIndexOf('p=') + 2), 'base64').length === 32, 'the proof is not 32 bytes');
  let accepted = true;
  try {
    session.verifyServerFinal(serverFinal);
  } catch (error) {
    expectProxyError(error, ProxyError, CODES);
    accepted = false;
  }
  const authMessage = `n=,r=${CLIENT_NONCE},${first},${clientFinal.slice(0, clientFinal.lastIndexOf(',p='))}`;
  const signature = createHmac('sha256', serverKeyFor(passthrough, first)).update(Buffer.from(authMessage, 'latin1')).digest('base64');
  const final = serverFinal.toString('latin1');
  if (accepted) check(final.startsWith('v=') && Buffer.from(final.slice(2), 'base64').equals(Buffer.from(signature, 'base64')), `a forged server-final ${final} was accepted`);
  if (final === `v=${signature}`) check(accepted, 'the true server signature was refused');
}
