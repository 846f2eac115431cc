package session

import "encoding/json"

// A Codec encodes session values. Each value is encoded on its own, under its
// key, so a commit carries only the keys a request changed. Implementations
// must be safe for concurrent use.
//
// Stored bytes are untrusted input (anyone with write access to the store can
// change them): Unmarshal must return an error, not panic, on any input.
//
// Unmarshal must not modify data, nor keep it after it returns: data is the
// stored value itself, which stores keeping sessions in memory share between
// requests (decrypt into a new slice, not in place).
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSONCodec encodes values with encoding/json. It needs no type registration,
// and stored values stay readable by other languages and by operators. Values
// round-trip as JSON does: read them back into the type they were stored as
// with [Get]. It is safe for concurrent use.
//
// Strings of printable ASCII, integers and booleans, the values most
// sessions hold, are encoded and decoded without encoding/json's reflection,
// to the same bytes and the same values (see codec_scalar.go).
type JSONCodec struct{}

// Marshal implements [Codec].
func (JSONCodec) Marshal(v any) ([]byte, error) {
	if b, ok := marshalScalar(v); ok {
		return b, nil
	}
	return json.Marshal(v)
}

// Unmarshal implements [Codec].
func (JSONCodec) Unmarshal(data []byte, v any) error {
	if unmarshalScalar(data, v) {
		return nil
	}
	return json.Unmarshal(data, v)
}
