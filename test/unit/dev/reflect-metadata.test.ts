import { describe, expect, it } from 'vitest';
import '../../../src/dev/reflect-metadata.js';

interface MetadataReflect {
  defineMetadata(key: unknown, value: unknown, target: object, property?: string): void;
  getMetadata(key: unknown, target: object, property?: string): unknown;
  getOwnMetadata(key: unknown, target: object, property?: string): unknown;
  hasMetadata(key: unknown, target: object, property?: string): boolean;
  hasOwnMetadata(key: unknown, target: object, property?: string): boolean;
}

const reflect = Reflect as unknown as MetadataReflect;

describe('Reflect metadata polyfill used by @peculiar/x509', () => {
  it('stores metadata per target and property, and finds inherited metadata only through getMetadata', () => {
    class Base {}
    class Derived extends Base {}
    reflect.defineMetadata('design:paramtypes', [String], Base);
    reflect.defineMetadata('k', 'on-method', Base, 'method');
    expect(reflect.getMetadata('design:paramtypes', Derived)).toEqual([String]);
    expect(reflect.hasMetadata('design:paramtypes', Derived)).toBe(true);
    expect(reflect.getOwnMetadata('design:paramtypes', Derived)).toBeUndefined();
    expect(reflect.hasOwnMetadata('design:paramtypes', Derived)).toBe(false);
    expect(reflect.getMetadata('k', Base)).toBeUndefined();
    expect(reflect.getMetadata('k', Base, 'method')).toBe('on-method');
  });

  it('lets @peculiar/x509 load and build a certificate', async () => {
    const { createCertificateAuthority } = await import('../../../src/dev/certificates.js');
    const ca = await createCertificateAuthority('polyfill check');
    expect(ca.certPem).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
  });
});
