/** pino JSON logs; every connection logs through a child carrying its connection id. */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'gatehouse' },
      // Defence in depth: these keys never carry a value into a log line.
      redact: { paths: ['password', '*.password', 'server_password', '*.server_password', 'secretKey', '*.secretKey'], censor: '[redacted]' },
    },
    destination,
  );
}
