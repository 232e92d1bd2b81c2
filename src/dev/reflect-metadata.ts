// @peculiar/x509 builds on tsyringe, which throws at import time unless a Reflect metadata polyfill is loaded
// ("tsyringe requires a reflect polyfill"). No polyfill package is a dependency, so this module installs the
// part of the Metadata Reflection API that tsyringe calls (define/get/getOwn/has/hasOwn, plus the
// `Reflect.metadata` decorator factory), unless one is already present. Import it before '@peculiar/x509'.
type Key = string | symbol | undefined;
type Store = Map<Key, Map<unknown, unknown>>;

const stores = new WeakMap<object, Store>();

function ownMap(target: object, property: Key, create: boolean): Map<unknown, unknown> | undefined {
  let store = stores.get(target);
  if (!store) {
    if (!create) return undefined;
    store = new Map();
    stores.set(target, store);
  }
  let map = store.get(property);
  if (!map && create) {
    map = new Map();
    store.set(property, map);
  }
  return map;
}

function requireObject(target: unknown): object {
  if ((typeof target !== 'object' && typeof target !== 'function') || target === null) {
    throw new TypeError('Reflect metadata target must be an object or a function');
  }
  return target;
}

function defineMetadata(key: unknown, value: unknown, target: unknown, property?: Key): void {
  ownMap(requireObject(target), property, true)!.set(key, value);
}

function hasOwnMetadata(key: unknown, target: unknown, property?: Key): boolean {
  return ownMap(requireObject(target), property, false)?.has(key) ?? false;
}

function getOwnMetadata(key: unknown, target: unknown, property?: Key): unknown {
  return ownMap(requireObject(target), property, false)?.get(key);
}

function hasMetadata(key: unknown, target: unknown, property?: Key): boolean {
  for (let t: object | null = requireObject(target); t !== null; t = Object.getPrototypeOf(t) as object | null) {
    if (hasOwnMetadata(key, t, property)) return true;
  }
  return false;
}

function getMetadata(key: unknown, target: unknown, property?: Key): unknown {
  for (let t: object | null = requireObject(target); t !== null; t = Object.getPrototypeOf(t) as object | null) {
    const map = ownMap(t, property, false);
    if (map?.has(key)) return map.get(key);
  }
  return undefined;
}

function metadata(key: unknown, value: unknown) {
  return (target: unknown, property?: Key): void => defineMetadata(key, value, target, property);
}

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  Object.assign(reflect, { defineMetadata, hasOwnMetadata, getOwnMetadata, hasMetadata, getMetadata, metadata });
}
