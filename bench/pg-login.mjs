// bench/pg-login.mjs — one PostgreSQL client session over TLS with SCRAM-SHA-256, on the wire, with gatehouse's
// own protocol encoders, framer and SCRAM client (../dist/src): what bench/hold-clients.mjs opens by the
// thousand. Much lighter than a driver: a held session is one TLS socket and nothing else. The SCRAM keys are
// memoised per (password, salt, iterations) by scram-secret.js, so PBKDF2 runs once per run, not per session,
// while every session still does the whole exchange (nonces, proof, server signature) with the proxy.
import net from 'node:net';
import tls from 'node:tls';
import { ScramClientSession } from '../dist/src/auth/scram-client.js';
import { parseBackendMessage } from '../dist/src/protocol/backend-messages.js';
import { MessageFramer } from '../dist/src/protocol/framer.js';
import { query, saslInitialResponse, saslResponse, terminate } from '../dist/src/protocol/frontend-messages.js';
import { BackendType } from '../dist/src/protocol/message-types.js';
import { encodeSslRequest, encodeStartupMessage } from '../dist/src/protocol/startup-packet.js';

const SSL_ACCEPTED = 0x53; // 'S'

/** Reads one byte (the answer to SSLRequest) from a plain socket. */
function sslAnswer(socket) {
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      cleanup();
      if (chunk.length !== 1) reject(new Error(`expected one byte after SSLRequest, got ${chunk.length}`));
      else resolve(chunk[0]);
    };
    const onError = (err) => (cleanup(), reject(err));
    const onClose = () => (cleanup(), reject(new Error('connection closed before the answer to SSLRequest')));
    const cleanup = () => {
      socket.off('data', onData).off('error', onError).off('close', onClose);
    };
    socket.on('data', onData).on('error', onError).on('close', onClose);
  });
}

function serverError(fields) {
  const err = new Error(`${fields.severity ?? 'ERROR'} ${fields.code ?? '?'}: ${fields.message ?? ''}`);
  err.sqlstate = fields.code;
  return err;
}

/**
 * Feeds the messages of `socket` to `onMessage(type, parsed)` until it returns true (done) or throws.
 * Resolves when done; rejects on an error, a close or an ErrorResponse.
 */
function readUntil(socket, onMessage) {
  const framer = new MessageFramer();
  return new Promise((resolve, reject) => {
    const finish = (err) => {
      socket.off('data', onData).off('error', finish).off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onClose = () => finish(new Error('connection closed by the server'));
    function onData(chunk) {
      framer.push(chunk);
      try {
        for (let m = framer.next(); m !== null; m = framer.next()) {
          const parsed = parseBackendMessage(m.type, m.body);
          if (parsed.type === 'errorResponse') return finish(serverError(parsed.fields));
          if (onMessage(m.type, parsed)) return finish();
        }
      } catch (err) {
        finish(err);
      }
    }
    socket.on('data', onData).on('error', finish).on('close', onClose);
  });
}

/**
 * Opens a session: TCP, SSLRequest, TLS (the certificate verified against `ca` for host name `servername`, like
 * libpq's sslmode=verify-full), StartupMessage, SCRAM-SHA-256, then `SELECT 1` to its ReadyForQuery.
 * Resolves with the TLS socket, idle, with no listener of ours left but an 'error' handler.
 */
export async function openSession({ host, port, user, database, password, ca, servername, appName }) {
  const plain = net.connect({ host, port });
  plain.setNoDelay(true);
  await new Promise((resolve, reject) => plain.once('connect', resolve).once('error', reject));
  plain.write(encodeSslRequest());
  const answer = await sslAnswer(plain).catch((err) => (plain.destroy(), Promise.reject(err)));
  if (answer !== SSL_ACCEPTED) {
    plain.destroy();
    throw new Error(`the server refused TLS (answered ${String.fromCharCode(answer)} to SSLRequest)`);
  }
  const socket = tls.connect({ socket: plain, ca, servername });
  socket.on('error', () => {}); // errors reach the promise below, or the holder through 'close'
  try {
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.write(encodeStartupMessage({ user, database, application_name: appName }));
    const scram = new ScramClientSession(password);
    await readUntil(socket, (_type, m) => {
      if (m.type === 'authenticationSASL') {
        if (!m.mechanisms.includes('SCRAM-SHA-256')) throw new Error(`no SCRAM-SHA-256 offered: ${m.mechanisms}`);
        socket.write(saslInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
      } else if (m.type === 'authenticationSASLContinue') {
        socket.write(saslResponse(scram.handleServerFirst(m.data)));
      } else if (m.type === 'authenticationSASLFinal') {
        scram.verifyServerFinal(m.data);
      } else if (m.type.startsWith('authentication') && m.type !== 'authenticationOk') {
        throw new Error(`unexpected authentication request ${m.code ?? m.type} (the bench expects SCRAM-SHA-256)`);
      }
      return m.type === 'readyForQuery';
    });
    socket.write(query('SELECT 1'));
    let rows = 0;
    await readUntil(socket, (type, m) => {
      if (type === BackendType.DataRow) rows += 1;
      return m.type === 'readyForQuery';
    });
    if (rows !== 1) throw new Error(`SELECT 1 returned ${rows} rows`);
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Ends a session politely: Terminate, then the TLS close. */
export function closeSession(socket) {
  if (!socket.destroyed) socket.end(terminate());
}
