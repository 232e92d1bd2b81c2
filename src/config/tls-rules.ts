import { serverTlsModesWhere } from '../../machines/server-tls-policy.js';
import { formatKeyPath, type KeySegment } from './key-path.js';
import type { PlainMap } from './prepare.js';
import { CLIENT_TLS_MODES, SERVER_TLS_MODES, TLS_VERSIONS } from './types.js';

// Rules between the TLS version, identity and negotiation keys, read from the prepared document like rules.ts.
// A value of the wrong type is left to the schema: each rule fires only when every value it compares is valid.

type Add = (path: KeySegment[], problem: string) => void;

/** Modes that may use server_tls_negotiation: direct (machines/server-tls-policy.ts). */
const DIRECT_MODES: readonly string[] = serverTlsModesWhere('allowsDirectNegotiation');
/** `require, verify-ca or verify-full` */
const DIRECT_MODES_TEXT = `${DIRECT_MODES.slice(0, -1).join(', ')} or ${DIRECT_MODES.at(-1)}`;

/** Where a setting comes from: the key that sets it, or its default. */
interface Origin {
  value: string;
  /** `general.tls_mode is allow` or `general.tls_mode is allow, the default`. */
  text: string;
}

/** The valid value a key sets, else `fallback` when the key is not set; undefined for a value the schema refuses. */
function setting(map: PlainMap, at: KeySegment[], key: string, allowed: readonly string[], fallback?: Origin): Origin | undefined {
  const raw = map[key];
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string') return undefined;
  // server_tls_mode is case-insensitive and stored in lower case; the other keys here are case-sensitive.
  const value = key === 'server_tls_mode' ? raw.toLowerCase() : raw;
  return allowed.includes(value) ? { value, text: `${formatKeyPath([...at, key])} is ${value}` } : undefined;
}

const byDefault = (key: string, value: string): Origin => ({ value, text: `${key} is ${value}, the default` });
const GENERAL_SERVER_MODE = byDefault('general.server_tls_mode', 'allow');

export function generalTlsRules(general: PlainMap, add: Add): void {
  const at = ['general'];
  const versions: readonly string[] = TLS_VERSIONS;
  const min = setting(general, at, 'tls_min_version', versions, byDefault('general.tls_min_version', 'TLSv1.2'));
  const max = setting(general, at, 'tls_max_version', versions, byDefault('general.tls_max_version', 'TLSv1.3'));
  if (min !== undefined && max !== undefined && versions.indexOf(min.value) > versions.indexOf(max.value)) {
    add([...at, 'tls_min_version'], `${min.value} is higher than general.tls_max_version (${max.value})`);
  }

  if (general.tls_client_cert_identity === 'cn') {
    const mode = setting(general, at, 'tls_mode', CLIENT_TLS_MODES, byDefault('general.tls_mode', 'allow'));
    if (mode !== undefined && mode.value !== 'verify-full') {
      add([...at, 'tls_client_cert_identity'], `cn requires general.tls_mode verify-full (${mode.text})`);
    }
  }

  if (general.server_tls_negotiation === 'direct') {
    const mode = setting(general, at, 'server_tls_mode', SERVER_TLS_MODES, GENERAL_SERVER_MODE);
    if (mode !== undefined && !DIRECT_MODES.includes(mode.value)) {
      add([...at, 'server_tls_negotiation'], `direct requires server_tls_mode ${DIRECT_MODES_TEXT} (${mode.text})`);
    }
  }
}

/**
 * Direct TLS negotiation with a pool's effective server_tls_mode. A pool that overrides neither key is covered by
 * the general rule; otherwise the problem is reported at the pool's own key.
 */
export function poolNegotiationRule(name: string, pool: PlainMap, general: PlainMap, add: Add): void {
  const at = ['pools', name];
  const generalMode = setting(general, ['general'], 'server_tls_mode', SERVER_TLS_MODES, GENERAL_SERVER_MODE);
  const mode = setting(pool, at, 'server_tls_mode', SERVER_TLS_MODES, generalMode);
  if (mode === undefined || DIRECT_MODES.includes(mode.value)) return;

  if (pool.server_tls_negotiation !== undefined) {
    if (pool.server_tls_negotiation === 'direct') {
      add([...at, 'server_tls_negotiation'], `direct requires server_tls_mode ${DIRECT_MODES_TEXT} (${mode.text})`);
    }
  } else if (general.server_tls_negotiation === 'direct' && pool.server_tls_mode !== undefined) {
    add(
      [...at, 'server_tls_mode'],
      `${mode.value} cannot be used with direct TLS negotiation (general.server_tls_negotiation is direct): ` +
        `use ${DIRECT_MODES_TEXT}, or set ${formatKeyPath([...at, 'server_tls_negotiation'])} to postgres`,
    );
  }
}
