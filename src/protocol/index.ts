export * from './sqlstate.js';
export * from './proxy-error.js';
export * from './error-response.js';
export * from './startup-packet.js';
export * from './framer.js';
export * from './message-types.js';
export * from './backend-messages.js';
export * from './frontend-messages.js';
export { protocolViolation } from './wire.js';
