/**
 * The registry of gatehouse's machines: used by the diagram generator, the viewer, replay and
 * the model-based tests. Each entry names the inputs ("modes") the machine is walked under.
 */
import { CANCEL_REQUEST_VERSION, cancelRequestMachine, type CancelRequestInput } from './cancel-request.js';
import { CLIENT_SESSION_VERSION, clientSessionMachine, type ClientSessionInput } from './client-session.js';
import { SERVER_HANDSHAKE_VERSION, serverHandshakeMachine, type ServerHandshakeInput } from './server-handshake.js';
import { SERVER_TLS_MODES, SERVER_TLS_POLICY } from './server-tls-policy.js';

export * from './cancel-request.js';
export * from './client-session.js';
export * from './server-handshake.js';
export * from './server-tls-policy.js';

export const CLIENT_TLS_MODES = ['disable', 'allow', 'require', 'verify-full'] as const;

export const machineRegistry = {
  'client-session': {
    machine: clientSessionMachine,
    version: CLIENT_SESSION_VERSION,
    modes: Object.fromEntries(
      CLIENT_TLS_MODES.map((tlsMode) => [
        tlsMode,
        // Under disable no certificate is ever loaded, so TLS is never available.
        {
          tlsMode,
          tlsAvailable: tlsMode !== 'disable',
          overCapacity: false,
          certIdentity: tlsMode === 'verify-full' ? 'cn' : 'none',
          transport: 'tcp',
          hbaCertRules: false,
        } satisfies ClientSessionInput,
      ]),
    ) as Record<(typeof CLIENT_TLS_MODES)[number], ClientSessionInput>,
  },
  'server-handshake': {
    machine: serverHandshakeMachine,
    version: SERVER_HANDSHAKE_VERSION,
    modes: Object.fromEntries(
      SERVER_TLS_MODES.map((mode) => [mode, { mode, negotiation: 'postgres' } satisfies ServerHandshakeInput]),
    ) as Record<(typeof SERVER_TLS_MODES)[number], ServerHandshakeInput>,
  },
  'cancel-request': {
    machine: cancelRequestMachine,
    version: CANCEL_REQUEST_VERSION,
    // The session each mode usually ends up with: allow's first (plain) attempt, prefer's TLS one.
    modes: Object.fromEntries(
      SERVER_TLS_MODES.map((mode) => [
        mode,
        { mode, negotiation: 'postgres', sessionTls: SERVER_TLS_POLICY[mode].firstAttempt === 'tls' } satisfies CancelRequestInput,
      ]),
    ) as Record<(typeof SERVER_TLS_MODES)[number], CancelRequestInput>,
  },
} as const;

export type MachineName = keyof typeof machineRegistry;
