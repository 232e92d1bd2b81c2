/**
 * Where the client driver hands a logged-in client over. The driver owns the handshake and the
 * client-session machine; once the machine asks for a server (`pool.acquire`), a session (built
 * above this layer, in src/proxy/) owns acquiring, the welcome, the cancel key and the relay, and
 * reports what happens to it back to the machine as events. The driver never imports the proxy:
 * it only knows this port.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ClientEvent } from '../../machines/client-session.js';
import type { ClientTraffic } from '../observability/traffic.js';

export interface Login {
  /** The client connection's id (journals, logs, SHOW CLIENTS). */
  id: string;
  user: string;
  database: string;
  /** Startup parameters that are session settings, applied on every server the client gets. */
  settings: Map<string, string>;
  socket: Socket | TLSSocket;
  logger: Logger;
}

/** The events a session reports; the driver journals them and the machine decides what they lead to. */
export type SessionEvent = Extract<
  ClientEvent,
  {
    type:
      | 'pool.acquired'
      | 'pool.failed'
      | 'backend.lost'
      | 'socket.closed'
      | 'client.invalidMessage'
      | 'client.idleInTransaction'
      | 'internal.error'
      | 'session.pinned';
  }
>;

/** What a client is doing, as the admin console shows it (SHOW CLIENTS state, SHOW POOLS cl_*). */
export type ClientActivity = 'login' | 'idle' | 'active' | 'waiting';

/** A client connection as the admin console lists it. */
export interface ClientInfo {
  id: string;
  /** From the startup packet; null before it arrived. */
  user: string | null;
  database: string | null;
  applicationName: string;
  /** "ip:port", or "[local]" on the Unix socket. */
  address: string;
  tls: boolean;
  connectedAt: number;
  activity: ClientActivity;
  /** What the client's session did so far (null before it started, and for the admin console). */
  traffic: ClientTraffic | null;
}

export interface SessionHandle {
  /** The session's counters (SHOW CLIENTS), where it has a pool. */
  readonly traffic?: ClientTraffic;
  /** idle: nothing in progress; active: it holds a server; waiting: it waits for one. */
  activity(): Exclude<ClientActivity, 'login'>;
  /** `session.start`: welcome the client and relay; `early` holds bytes it sent after its last authentication message. */
  start(early: Buffer): void;
  /** The machine reached a final state: give back the server, the cancel key, everything. Idempotent. */
  end(): void;
}

export type OpenSession = (login: Login, report: (event: SessionEvent) => void) => SessionHandle;
