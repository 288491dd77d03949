package email

import (
	"mime"
	"strings"
)

// maxHeaderLine is the line length header folding aims at (RFC 5322's
// SHOULD); a single word longer than that stays on its own line.
const maxHeaderLine = 78

// headerWriter writes the header section of a message, one field at a time,
// with CRLF line endings.
type headerWriter struct {
	b strings.Builder
}

// add writes the field name: value, value already safe (no CR or LF, ASCII),
// folded at spaces to keep lines short.
func (h *headerWriter) add(name, value string) {
	h.b.WriteString(fold(name+": "+value, maxHeaderLine))
	h.b.WriteString("\r\n")
}

// addText writes an unstructured field (Subject, ...): value is cleaned of
// line breaks and encoded with RFC 2047 Q-encoding when it is not plain
// ASCII.
func (h *headerWriter) addText(name, value string) {
	h.add(name, encodeText(value))
}

func (h *headerWriter) String() string { return h.b.String() }

// encodeText returns value fit for an unstructured header field: invalid
// UTF-8 replaced, runs of CR and LF replaced by one space (no header
// injection), and Q-encoded as RFC 2047 encoded words when it holds
// anything but printable ASCII. Encoded words are at most 75 characters
// and separated by spaces, so the result folds.
func encodeText(value string) string {
	return mime.QEncoding.Encode("utf-8", cleanLine(value))
}

// cleanLine makes s valid UTF-8 on one line: each run of CR and LF becomes a
// single space.
func cleanLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	inBreak := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			if !inBreak {
				b.WriteByte(' ')
			}
			inBreak = true
			continue
		}
		inBreak = false
		b.WriteByte(c)
	}
	return b.String()
}

// fold breaks the header line at spaces so that lines stay within width
// where the words allow it: a CRLF is inserted before a space, which
// unfolding removes again.
func fold(line string, width int) string {
	if len(line) <= width {
		return line
	}
	var b strings.Builder
	b.Grow(len(line) + len(line)/width*3)
	lineLen := 0
	for len(line) > 0 {
		// The next chunk: up to and excluding the next space after the
		// first byte (a chunk after the first starts with its space).
		next := strings.IndexByte(line[1:], ' ')
		chunk := line
		if next >= 0 {
			chunk = line[:next+1]
		}
		if lineLen > 0 && lineLen+len(chunk) > width && chunk[0] == ' ' && strings.TrimLeft(chunk, " ") != "" {
			b.WriteString("\r\n")
			lineLen = 0
		}
		b.WriteString(chunk)
		lineLen += len(chunk)
		line = line[len(chunk):]
	}
	return b.String()
}
