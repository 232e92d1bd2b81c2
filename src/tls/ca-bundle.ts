/**
 * A CA bundle read for a secure context. Node's createSecureContext skips whatever in `ca` is not a
 * certificate without a word, so a file deleted and recreated empty, truncated by a failed copy or
 * overwritten with garbage would silently replace the trusted CAs with none: every verification would
 * then fail. A reload must refuse such a file and keep the previous material, so it is checked here.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const BEGIN_MARKER = /-----BEGIN [A-Z0-9 ]+-----/g;

/** The file's bytes, once every PEM block in it is a whole certificate that parses; throws naming the file otherwise. */
export function readCaBundle(file: string): Buffer {
  const bytes = readFileSync(file);
  const text = bytes.toString('latin1');
  const certificates = text.match(CERTIFICATE_BLOCK) ?? [];
  if (certificates.length === 0) throw new Error(`${file} holds no PEM certificate`);
  const begun = text.match(BEGIN_MARKER)?.length ?? 0;
  if (begun !== certificates.length) throw new Error(`${file}: ${begun - certificates.length} PEM block(s) are not whole certificates (a truncated file?)`);
  for (const [i, pem] of certificates.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new Error(`${file}: certificate ${i + 1} of ${certificates.length} cannot be parsed (${(err as Error).message})`);
    }
  }
  return bytes;
}
