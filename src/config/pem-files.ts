import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { KeySegment } from './key-path.js';
import type { PathProblem } from './prepare.js';

export type PemKind = 'certificate' | 'ca' | 'key';

/** One configured file: the key that names it, its absolute path and what it must hold. */
export interface PemFileRef {
  path: KeySegment[];
  file: string;
  kind: PemKind;
}

/** A certificate and the private key that must belong to it. */
export interface PemPair {
  certificate: PemFileRef;
  key: PemFileRef;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
// Far above any real certificate bundle; keeps a mistyped path (a log file, a disk image) from being slurped.
const MAX_PEM_FILE_BYTES = 10 * 1024 * 1024;
const PRIVATE_KEY_LABELS = ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'DSA PRIVATE KEY'];

interface Loaded {
  problem: string | null;
  /** Leaf certificate (first block) for certificate files. */
  leaf?: X509Certificate;
  key?: KeyObject;
}

function readProblem(file: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT' ? 'no such file'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'EISDIR' ? 'it is a directory'
    : (error as Error).message;
  return `cannot read ${file}: ${reason}`;
}

function blocks(text: string): Array<{ label: string; pem: string }> {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], pem: m[0] }));
}

function loadCertificates(file: string, text: string): Loaded {
  const certs = blocks(text).filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) return { problem: `${file} holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)` };
  let leaf: X509Certificate | undefined;
  for (const [i, block] of certs.entries()) {
    try {
      const cert = new X509Certificate(block.pem);
      leaf ??= cert;
    } catch (error) {
      return { problem: `${file}: certificate ${i + 1} of ${certs.length} cannot be parsed (${(error as Error).message})` };
    }
  }
  return { problem: null, leaf };
}

function loadKey(file: string, text: string): Loaded {
  const all = blocks(text);
  if (all.some((b) => b.label === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: *4, *ENCRYPTED/m.test(b.pem))) {
    return { problem: `${file} holds an encrypted private key; gatehouse needs it unencrypted` };
  }
  const keys = all.filter((b) => PRIVATE_KEY_LABELS.includes(b.label));
  if (keys.length === 0) return { problem: `${file} holds no PEM private key (no -----BEGIN ... PRIVATE KEY----- block)` };
  try {
    return { problem: null, key: createPrivateKey(keys[0].pem) };
  } catch (error) {
    return { problem: `${file}: the private key cannot be parsed (${(error as Error).message})` };
  }
}

/**
 * Checks that each file is readable and holds PEM blocks of the right kind, and that each certificate matches
 * its private key. Problems name the configuration key and the file path, never key material.
 */
export function pemFileProblems(files: readonly PemFileRef[], pairs: readonly PemPair[]): PathProblem[] {
  const problems: PathProblem[] = [];
  const cache = new Map<string, Loaded>();
  const load = (ref: PemFileRef): Loaded => {
    const cacheKey = `${ref.kind === 'key' ? 'key' : 'cert'}:${ref.file}`;
    let loaded = cache.get(cacheKey);
    if (loaded === undefined) {
      try {
        const stat = statSync(ref.file);
        if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: stat.isDirectory() ? 'EISDIR' : undefined });
        if (stat.size > MAX_PEM_FILE_BYTES) throw new Error(`larger than ${MAX_PEM_FILE_BYTES} bytes, not a PEM file`);
        const text = readFileSync(ref.file, 'utf8');
        loaded = ref.kind === 'key' ? loadKey(ref.file, text) : loadCertificates(ref.file, text);
      } catch (error) {
        loaded = { problem: readProblem(ref.file, error) };
      }
      cache.set(cacheKey, loaded);
    }
    return loaded;
  };

  for (const ref of files) {
    const { problem } = load(ref);
    if (problem !== null) problems.push({ path: ref.path, problem });
  }
  for (const pair of pairs) {
    const { leaf } = load(pair.certificate);
    const { key } = load(pair.key);
    if (leaf === undefined || key === undefined) continue;
    let matches: boolean;
    try {
      matches = leaf.checkPrivateKey(key);
    } catch {
      matches = false;
    }
    if (!matches) {
      problems.push({ path: pair.key.path, problem: `${pair.key.file} does not match the certificate in ${pair.certificate.file}` });
    }
  }
  return problems;
}
