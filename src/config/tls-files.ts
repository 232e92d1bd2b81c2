import { resolve } from 'node:path';
import type { KeySegment } from './key-path.js';
import type { PemFileRef, PemKind, PemPair } from './pem-files.js';
import { isMap, type PlainMap } from './prepare.js';

const FILE_KEYS: ReadonlyArray<readonly [string, PemKind]> = [
  ['tls_certificate', 'certificate'],
  ['tls_private_key', 'key'],
  ['tls_ca_cert', 'ca'],
  ['server_tls_certificate', 'certificate'],
  ['server_tls_private_key', 'key'],
  ['server_tls_ca_cert', 'ca'],
];

/** A relative path in the configuration is relative to the directory of the configuration file. */
export function resolveConfigPath(baseDir: string, value: string): string {
  return resolve(baseDir, value);
}

function refAt(map: PlainMap, at: KeySegment[], key: string, kind: PemKind, baseDir: string): PemFileRef | null {
  const value = map[key];
  return typeof value === 'string' && value !== '' ? { path: [...at, key], file: resolveConfigPath(baseDir, value), kind } : null;
}

/**
 * Every TLS file named in the (prepared) document, and the certificate/key pairs to match: the client-side pair,
 * the general server-side pair, and each pool's effective server-side pair when the pool sets half of it or more.
 */
export function tlsFileRefs(document: unknown, baseDir: string): { files: PemFileRef[]; pairs: PemPair[] } {
  const files: PemFileRef[] = [];
  const pairs: PemPair[] = [];
  if (!isMap(document)) return { files, pairs };
  const general = isMap(document.general) ? document.general : {};

  const collect = (map: PlainMap, at: KeySegment[]) => {
    for (const [key, kind] of FILE_KEYS) {
      const ref = refAt(map, at, key, kind, baseDir);
      if (ref) files.push(ref);
    }
  };
  const pair = (certificate: PemFileRef | null, key: PemFileRef | null) => {
    if (certificate && key) pairs.push({ certificate, key });
  };

  collect(general, ['general']);
  pair(refAt(general, ['general'], 'tls_certificate', 'certificate', baseDir), refAt(general, ['general'], 'tls_private_key', 'key', baseDir));
  const generalServerCert = refAt(general, ['general'], 'server_tls_certificate', 'certificate', baseDir);
  const generalServerKey = refAt(general, ['general'], 'server_tls_private_key', 'key', baseDir);
  pair(generalServerCert, generalServerKey);

  if (isMap(document.pools)) {
    for (const [name, pool] of Object.entries(document.pools)) {
      if (!isMap(pool)) continue;
      const at = ['pools', name];
      collect(pool, at);
      const cert = refAt(pool, at, 'server_tls_certificate', 'certificate', baseDir);
      const key = refAt(pool, at, 'server_tls_private_key', 'key', baseDir);
      if (cert || key) pair(cert ?? generalServerCert, key ?? generalServerKey);
    }
  }
  return { files, pairs };
}
