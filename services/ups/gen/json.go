package gen

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The records are written by hand with append, not encoding/json: it is
// several times faster, allocates nothing, and fixes the key order, which
// byte-identical output needs anyway.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends s escaped for a JSON string, without the quotes.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendCents appends an amount in cents as a JSON number with two
// decimals, e.g. 15998 as 159.98.
func appendCents(dst []byte, cents int64) []byte {
	dst = strconv.AppendInt(dst, cents/100, 10)
	c := cents % 100
	return append(dst, '.', byte('0'+c/10), byte('0'+c%10))
}

// appendPadded appends n in decimal, zero-padded to width digits.
func appendPadded(dst []byte, n uint64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n > 0 || i > len(buf)-width {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, buf[i:]...)
}

// appendDate appends "YYYY-MM-DD".
func appendDate(dst []byte, t time.Time) []byte {
	y, m, d := t.Date()
	dst = appendPadded(dst, uint64(y), 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, uint64(m), 2)
	dst = append(dst, '-')
	return appendPadded(dst, uint64(d), 2)
}

// appendTimestamp appends a Unix millisecond time as RFC 3339 UTC with
// milliseconds, e.g. 2025-03-01T12:34:56.789Z.
func appendTimestamp(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	dst = appendDate(dst, t)
	h, mi, s := t.Clock()
	dst = append(dst, 'T')
	dst = appendPadded(dst, uint64(h), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, uint64(mi), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, uint64(s), 2)
	dst = append(dst, '.')
	dst = appendPadded(dst, uint64((ms%1000+1000)%1000), 3)
	return append(dst, 'Z')
}

// appendHex appends the n low hex digits of x, most significant first.
func appendHex(dst []byte, x uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(x>>(4*uint(i)))&0xf])
	}
	return dst
}

// appendUUID appends 128 bits in the 8-4-4-4-12 layout of a UUID.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	dst = appendHex(dst, hi>>32, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, hi>>16, 4)
	dst = append(dst, '-')
	dst = appendHex(dst, hi, 4)
	dst = append(dst, '-')
	dst = appendHex(dst, lo>>48, 4)
	dst = append(dst, '-')
	return appendHex(dst, lo, 12)
}

// appendFolded appends s lower-cased and folded to ASCII letters, for the
// local part of email addresses: "Müller" → "muller", "O'Brien" →
// "obrien", "van den Berg" → "vandenberg".
func appendFolded(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z':
				dst = append(dst, c)
			case 'A' <= c && c <= 'Z':
				dst = append(dst, c+'a'-'A')
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		dst = append(dst, foldRune(r)...)
	}
	return dst
}

// foldRune maps the accented letters of the name tables to ASCII.
func foldRune(r rune) string {
	switch r {
	case 'à', 'á', 'â', 'ã', 'ä', 'å', 'À', 'Á', 'Â', 'Ã', 'Ä', 'Å':
		return "a"
	case 'ç', 'Ç':
		return "c"
	case 'è', 'é', 'ê', 'ë', 'È', 'É', 'Ê', 'Ë':
		return "e"
	case 'ì', 'í', 'î', 'ï', 'ı', 'Ì', 'Í', 'Î', 'Ï', 'İ':
		return "i"
	case 'ñ', 'Ñ':
		return "n"
	case 'ò', 'ó', 'ô', 'õ', 'ö', 'ø', 'Ò', 'Ó', 'Ô', 'Õ', 'Ö', 'Ø':
		return "o"
	case 'ù', 'ú', 'û', 'ü', 'Ù', 'Ú', 'Û', 'Ü':
		return "u"
	case 'ý', 'ÿ', 'Ý':
		return "y"
	case 'ş', 'Ş':
		return "s"
	case 'ğ', 'Ğ':
		return "g"
	case 'ß':
		return "ss"
	case 'æ', 'Æ':
		return "ae"
	case 'œ', 'Œ':
		return "oe"
	}
	return ""
}
