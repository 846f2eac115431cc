package session

import "strconv"

// The scalar fast path of JSONCodec. encoding/json spends most of a small
// value's decoding on reflection and on validating the whole input before
// it decodes it: for a session read whose handler asks for one string, that
// was 2–3 % of the server's CPU per request under load. The values a
// session typically holds (a name, an id, a counter, a flag) take the paths
// below; anything else, or any input these do not recognise, goes to
// encoding/json, which then decides (and reports errors) exactly as before.
// FuzzJSONCodecScalars checks both directions against encoding/json.

// marshalScalar encodes v as json.Marshal would, if v is a string of
// printable ASCII that JSON needs no escape for (encoding/json escapes ", \,
// and, for HTML safety, <, > and &), an int, an int64 or a bool.
func marshalScalar(v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		if !plainASCII(v, true) {
			return nil, false
		}
		b := make([]byte, 0, len(v)+2)
		b = append(b, '"')
		b = append(b, v...)
		return append(b, '"'), true
	case int:
		return strconv.AppendInt(nil, int64(v), 10), true
	case int64:
		return strconv.AppendInt(nil, v, 10), true
	case bool:
		return strconv.AppendBool(nil, v), true
	}
	return nil, false
}

// unmarshalScalar decodes data into v and reports true if v is a *string,
// *int, *int64 or *bool and data is in the form marshalScalar writes (a
// quoted string of printable ASCII without escapes, a decimal integer
// without a leading zero or sign other than '-', true or false) with
// nothing around it. Otherwise it leaves v alone.
//
// A nil pointer is left to encoding/json, whose error says so.
func unmarshalScalar(data []byte, v any) bool {
	switch p := v.(type) {
	case *string:
		s, ok := plainString(data)
		if ok && p != nil {
			*p = s
			return true
		}
	case *int:
		n, ok := plainInt(data)
		if ok && p != nil && int64(int(n)) == n {
			*p = int(n)
			return true
		}
	case *int64:
		n, ok := plainInt(data)
		if ok && p != nil {
			*p = n
			return true
		}
	case *bool:
		if p == nil {
			return false
		}
		switch string(data) {
		case "true":
			*p = true
			return true
		case "false":
			*p = false
			return true
		}
	}
	return false
}

// plainString returns the string a JSON string literal holds, if it is
// quoted printable ASCII without backslashes.
func plainString(data []byte) (string, bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return "", false
	}
	inner := data[1 : len(data)-1]
	if !plainASCII(inner, false) {
		return "", false
	}
	return string(inner), true
}

// plainInt parses a JSON integer of at most 18 digits (so it cannot
// overflow an int64): an optional '-', then "0" or digits without a leading
// zero. "-0" is left to encoding/json.
func plainInt(data []byte) (int64, bool) {
	digits := data
	neg := len(data) > 0 && data[0] == '-'
	if neg {
		digits = data[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && (len(digits) > 1 || neg)) {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// plainASCII reports whether s is printable ASCII that a JSON string holds
// as it is: no '"' or '\\', and, for encoding (html), none of the <, > and
// & that encoding/json escapes.
func plainASCII[S string | []byte](s S, html bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || (html && (c == '<' || c == '>' || c == '&')) {
			return false
		}
	}
	return true
}
