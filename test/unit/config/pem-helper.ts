import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface CertAndKey {
  certPem: string;
  /** Unencrypted PEM private key (PKCS#8 unless asked otherwise). */
  keyPem: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A fresh self-signed certificate and its private key, made at test time with the openssl CLI.
 * `keyType` 'ec' gives a PKCS#8 P-256 key; 'rsa-traditional' an `RSA PRIVATE KEY` (PKCS#1) block.
 */
export function makeCertAndKey(commonName: string, keyType: 'ec' | 'rsa-traditional' = 'ec'): CertAndKey {
  const work = mkdtempSync(join(tmpdir(), 'gatehouse-pem-'));
  try {
    if (keyType === 'ec') {
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem'], work);
    } else {
      openssl(['genrsa', '-traditional', '-out', 'key.pem', '2048'], work);
    }
    openssl(['req', '-x509', '-new', '-key', 'key.pem', '-subj', `/CN=${commonName}`, '-days', '2', '-out', 'cert.pem'], work);
    return { certPem: readFileSync(join(work, 'cert.pem'), 'utf8'), keyPem: readFileSync(join(work, 'key.pem'), 'utf8') };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `keyPem` encrypted with a passphrase (an `ENCRYPTED PRIVATE KEY` block). */
export function encryptKey(keyPem: string): string {
  const work = mkdtempSync(join(tmpdir(), 'gatehouse-pem-'));
  try {
    writeFileSync(join(work, 'in.pem'), keyPem);
    openssl(['pkcs8', '-topk8', '-in', 'in.pem', '-out', 'out.pem', '-passout', 'pass:secret'], work);
    return readFileSync(join(work, 'out.pem'), 'utf8');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface TempDir {
  dir: string;
  path: (name: string) => string;
  write: (name: string, text: string) => string;
  remove: () => void;
}

/** A temporary directory; `write` creates subdirectories as needed. */
export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  const path = (name: string) => join(dir, name);
  const write = (name: string, text: string) => {
    mkdirSync(dirname(path(name)), { recursive: true });
    writeFileSync(path(name), text);
    return path(name);
  };
  return { dir, path, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
