#pragma once
// Internal: pickle strings are UTF-8 (Python decodes them strictly, allowing
// surrogates, as 'surrogatepass' does), so both the reader and the writer
// check them.
#include <string_view>

namespace descent::pytorch {

inline bool utf8_valid(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || s.size() - i < n) return false;
    char32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms and code points past U+10FFFF are invalid.
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF) return false;
    i += n;
  }
  return true;
}

}  // namespace descent::pytorch
