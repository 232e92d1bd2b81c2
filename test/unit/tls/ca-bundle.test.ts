// A CA file that does not hold whole certificates is refused (Node would trust nothing instead, without a word).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../../src/dev/index.js';
import { readCaBundle } from '../../../src/tls/ca-bundle.js';

describe('readCaBundle', () => {
  let dir: string;
  let bundle: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-ca-bundle-'));
    const [a, b] = await Promise.all([createCertificateAuthority('bundle CA one'), createCertificateAuthority('bundle CA two')]);
    bundle = `${a.certPem.trim()}\n${b.certPem.trim()}\n`;
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const write = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await fs.writeFile(file, text);
    return file;
  };

  it('returns a bundle of whole certificates as it is', async () => {
    const file = await write('good.crt', bundle);
    expect(readCaBundle(file).toString()).toBe(bundle);
  });

  it.each([
    ['an empty file', () => '', /holds no PEM certificate/],
    ['garbage', () => 'this is not a certificate\n', /holds no PEM certificate/],
    ['a bundle cut inside its second certificate', () => bundle.slice(0, Math.floor(bundle.length * 0.75)), /not whole certificates/],
    ['a block whose base64 is not a certificate', () => '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n', /certificate 1 of 1 cannot be parsed/],
  ])('refuses %s, naming the file', async (what, text, reason) => {
    const file = await write(`${what.replace(/\W+/g, '-')}.crt`, text());
    expect(() => readCaBundle(file)).toThrow(reason);
    expect(() => readCaBundle(file)).toThrow(file);
  });

  it('refuses a missing file', () => {
    expect(() => readCaBundle(path.join(dir, 'missing.crt'))).toThrow(/ENOENT/);
  });
});
