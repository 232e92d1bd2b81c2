/**
 * An impostor PostgreSQL that asks for SCRAM and then says AuthenticationOk without ever proving it
 * knows the password (no SASLFinal with the server signature) is refused: gatehouse must not hand
 * such a connection to a client.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { connectServer } from '../../../src/driver/server-driver.js';
import { JournalBook } from '../../../src/journal/journal.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { authenticationOk, authenticationSASL, authenticationSASLContinue, parameterStatus, readyForQuery } from '../../../src/protocol/index.js';

let server: Server | null = null;
afterEach(() => server?.close());

/** A backend that runs the SCRAM opening, then skips the final message. */
async function impostor(): Promise<number> {
  server = createServer((socket: Socket) => {
    let step = 0;
    socket.on('data', (chunk) => {
      step++;
      if (step === 1) socket.write(authenticationSASL(['SCRAM-SHA-256'])); // after the StartupMessage
      if (step === 2) {
        // client-first received: answer with a server-first that extends the client's nonce.
        const clientNonce = /r=([^,]+)/.exec(chunk.toString('latin1'))![1];
        socket.write(authenticationSASLContinue(Buffer.from(`r=${clientNonce}impostor,s=${Buffer.from('salt').toString('base64')},i=4096`)));
      }
      if (step === 3) socket.write(Buffer.concat([authenticationOk(), parameterStatus('server_version', '18.4'), readyForQuery('I')]));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('server-side SCRAM', () => {
  it('refuses AuthenticationOk from a server that never sent its SCRAM signature', async () => {
    const port = await impostor();
    const journals = new JournalBook(10);
    const attempt = connectServer({
      id: 's1',
      pool: 'app',
      host: '127.0.0.1',
      port,
      mode: 'disable',
      negotiation: 'postgres',
      tls: null,
      user: 'app',
      password: 'secret',
      startupParameters: { user: 'app', database: 'app' },
      connectTimeoutMs: 5000,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(),
      journals,
      onClosed: () => {},
    });
    await expect(attempt).rejects.toMatchObject({ sqlstate: '08006', message: expect.stringMatching(/without proving it knows the password/) });
    expect(journals.find('s1')!.entries.map((e) => e.event.type)).toEqual(['socket.connected', 'backend.authRequest', 'auth.failed']);
  });
});
