// Throwaway X.509 certificates for tests and `gatehouse demo`: one CA, server and client leaves.
// ECDSA P-256 keys and SHA-256 signatures, made with Node's WebCrypto through @peculiar/x509.
import { webcrypto } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
// Must precede '@peculiar/x509': tsyringe, which it imports, needs Reflect metadata at load time.
import './reflect-metadata.js';
import * as x509 from '@peculiar/x509';

export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8 PEM ('-----BEGIN PRIVATE KEY-----'). */
  keyPem: string;
  /** Hexadecimal serial number, as @peculiar/x509 reports it. */
  serialNumber: string;
  notAfter: Date;
}

export interface IssueOptions {
  /** For client certificates this is the PostgreSQL user name (`clientcert=verify-full` compares it). */
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client';
  notBefore?: Date;
  /** Default: one year after now. */
  notAfter?: Date;
}

export interface CertificateAuthority extends IssuedCertificate {
  commonName: string;
  issue(opts: IssueOptions): Promise<IssuedCertificate>;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const crypto = webcrypto;
const keyAlgorithm: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const signingAlgorithm: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;
// Backdate by a minute so a freshly issued certificate is valid on a peer whose clock is slightly behind.
const CLOCK_SKEW_MS = 60 * 1000;

function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

/** 16 random bytes with the top bit cleared: a positive INTEGER in DER, as RFC 5280 requires. */
function randomSerialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem')}\n`;
}

function subjectName(commonName: string): string {
  if (commonName.length === 0) throw new Error('certificate common name must not be empty');
  // JsonName form avoids having to escape ',', '+', '=' and friends in an RFC 4514 string.
  return new x509.Name([{ CN: [commonName] }]).toString();
}

function leafExtensions(opts: IssueOptions): x509.Extension[] {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  ];
  if (opts.usage === 'server') {
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false));
  } else if (opts.usage === 'client') {
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false));
  } else {
    throw new Error(`certificate usage must be 'server' or 'client', got ${JSON.stringify(opts.usage)}`);
  }
  const names = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  return extensions;
}

/** Creates a self-signed CA (basicConstraints CA:true, keyCertSign) that can issue server and client certificates. */
export async function createCertificateAuthority(
  commonName: string,
  opts: { notAfter?: Date } = {},
): Promise<CertificateAuthority> {
  const keys = await generateKeyPair();
  const name = subjectName(commonName);
  const notBefore = new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = opts.notAfter ?? new Date(Date.now() + ONE_YEAR_MS);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialNumber(),
      name,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const caAuthorityKeyId = await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, crypto);

  async function issue(issueOpts: IssueOptions): Promise<IssuedCertificate> {
    const leafKeys = await generateKeyPair();
    const leafNotAfter = issueOpts.notAfter ?? new Date(Date.now() + ONE_YEAR_MS);
    const leaf = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerialNumber(),
        subject: subjectName(issueOpts.commonName),
        issuer: caCert.subject,
        notBefore: issueOpts.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS),
        notAfter: leafNotAfter,
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm,
        extensions: [
          ...leafExtensions(issueOpts),
          await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, crypto),
          caAuthorityKeyId,
        ],
      },
      crypto,
    );
    return {
      certPem: certificatePem(leaf),
      keyPem: await privateKeyPem(leafKeys.privateKey),
      serialNumber: leaf.serialNumber,
      notAfter: leaf.notAfter,
    };
  }

  return {
    commonName,
    certPem: certificatePem(caCert),
    keyPem: await privateKeyPem(keys.privateKey),
    serialNumber: caCert.serialNumber,
    notAfter: caCert.notAfter,
    issue,
  };
}

/** Writes `<dir>/<name>.crt` and `<dir>/<name>.key` (mode 0600); creates `dir` when missing. */
export async function writeCertificateFiles(
  dir: string,
  name: string,
  cert: IssuedCertificate,
): Promise<{ certFile: string; keyFile: string }> {
  if (name.length === 0 || name.includes('/') || name.includes(path.sep)) {
    throw new Error(`certificate file name must be a plain file name, got ${JSON.stringify(name)}`);
  }
  await fs.mkdir(dir, { recursive: true });
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await fs.writeFile(certFile, cert.certPem, { mode: 0o644 });
  await fs.writeFile(keyFile, cert.keyPem, { mode: 0o600 });
  // writeFile's mode only applies when it creates the file; an existing key file must be tightened too.
  await fs.chmod(keyFile, 0o600);
  return { certFile, keyFile };
}
