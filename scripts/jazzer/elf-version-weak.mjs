/**
 * Marks one symbol-version requirement of an ELF64 little-endian shared object as weak
 * (VER_FLG_WEAK), in place. The dynamic loader then no longer refuses to load the object when the
 * library it names lacks that version; the symbols bound to the version must come from elsewhere
 * (here: a preloaded shim that defines them under the same version name).
 */
import { readFileSync, writeFileSync } from 'node:fs';

const SHT_GNU_VERNEED = 0x6ffffffe;
const VER_FLG_WEAK = 0x2;

function cstring(buf, at) {
  return buf.toString('latin1', at, buf.indexOf(0, at));
}

/** Returns 'patched', 'already weak' or throws when the file has no such requirement. */
export function markVersionWeak(file, versionName) {
  const elf = readFileSync(file);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  }
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const section = (i) => {
    const at = shoff + i * shentsize;
    return { type: elf.readUInt32LE(at + 4), offset: Number(elf.readBigUInt64LE(at + 0x18)), link: elf.readUInt32LE(at + 0x28) };
  };
  for (let i = 0; i < shnum; i++) {
    const verneed = section(i);
    if (verneed.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(verneed.link).offset;
    // Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
    for (let need = verneed.offset; ; ) {
      const count = elf.readUInt16LE(need + 2);
      // Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
      for (let aux = need + elf.readUInt32LE(need + 8), k = 0; k < count; k++) {
        if (cstring(elf, strtab + elf.readUInt32LE(aux + 8)) === versionName) {
          const flags = elf.readUInt16LE(aux + 4);
          if (flags & VER_FLG_WEAK) return 'already weak';
          elf.writeUInt16LE(flags | VER_FLG_WEAK, aux + 4);
          writeFileSync(file, elf);
          return 'patched';
        }
        aux += elf.readUInt32LE(aux + 12);
      }
      const next = elf.readUInt32LE(need + 12);
      if (next === 0) break;
      need += next;
    }
  }
  throw new Error(`${file} requires no symbol version ${versionName}`);
}
