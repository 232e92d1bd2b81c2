// What the prebuilt Jazzer.js addon needs from a newer C and C++ runtime than Debian 12's
// (glibc 2.36, libstdc++ of GCC 12), exported under the version names the addon asks for.
#include <cstdlib>
#include <ios>

extern "C" {
// glibc 2.38 redirects strtol/strtoul to these in C23 mode; they differ only in also accepting a
// "0b" prefix for base 0 or 2. libFuzzer parses its flags in base 10, where both agree.
long __isoc23_strtol(const char *text, char **end, int base) { return std::strtol(text, end, base); }
unsigned long __isoc23_strtoul(const char *text, char **end, int base) { return std::strtoul(text, end, base); }
}

namespace {
// GCC 13 moved the initialisation of std::cout and friends into libstdc++ and has every
// <iostream> user reference std::ios_base_library_init() instead of holding its own
// ios_base::Init; with GCC 12's libstdc++ that object must exist somewhere, so it lives here.
const std::ios_base::Init streams;
}

namespace std {
void ios_base_library_init() {}
}
