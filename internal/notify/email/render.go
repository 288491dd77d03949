package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/text"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// MessageIDDomain is the domain of the Message-ID of every notification:
// <firing-id@MessageIDDomain>.
const MessageIDDomain = "milestone-triggers.leadvibe.io"

// FiringIDHeader carries the firing's id, the same on every attempt.
const FiringIDHeader = "X-LeadVibe-Firing-Id"

// testPrefix starts the subject of a test notification.
const testPrefix = "[TEST] "

// Bounds of what a message shows, so that a large trigger or event cannot
// make a huge email. Longer texts are cut and marked with "…".
const (
	maxSubjectRunes   = 256
	maxPreheaderRunes = 512
	maxMessageRunes   = 8192
	maxDetailRunes    = 512 // one detail value: lead id, metadata value, ...
	maxMetadataKey    = 128
	maxMetadataFields = 100
	maxMetadataBytes  = 1 << 20 // metadata beyond this is not parsed at all
	maxIDRunes        = 256     // the firing id in X-LeadVibe-Firing-Id
	maxIDLocalPart    = 128     // a longer Message-ID local part is hashed
)

// Message is a rendered notification.
type Message struct {
	// From is the From header's address.
	From string
	// To are the recipients' addresses, as given to RCPT TO.
	To []string
	// MessageID is the Message-ID, angle brackets included.
	MessageID string
	// Subject, Preheader and Text are the message's subject, hidden preview
	// text and plain-text body, before any encoding; HTML is the HTML body.
	Subject   string
	Preheader string
	Text      string
	HTML      string
	// Raw is the whole RFC 5322 message, CRLF line endings, as sent with
	// DATA.
	Raw []byte
}

// Render renders the notification of firing f of trigger def sent from from
// to def's email addresses at time now; test marks a test notification
// (subject prefixed with "[TEST] "). It fails when from or one of the
// addresses is not a valid RFC 5322 address, or when the firing has no id;
// def may have no addresses (a preview), and then the message has no To.
func Render(f ledger.Firing, def triggerset.Definition, from string, test bool, now time.Time) (Message, error) {
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return Message{}, fmt.Errorf("invalid sender %q: %w", cleanLine(from), err)
	}
	to, err := parseRecipients(def.Destinations.Emails)
	if err != nil {
		return Message{}, err
	}
	if f.ID == "" {
		return Message{}, errors.New("the firing has no id")
	}
	c := newContent(f, def, test)
	m := Message{
		From:      sender.Address,
		MessageID: "<" + messageIDLocalPart(f.ID) + "@" + MessageIDDomain + ">",
		Subject:   c.subject,
		Preheader: c.preheader,
		Text:      c.text(),
		HTML:      c.html(),
	}
	toHeader := make([]string, len(to))
	for i, a := range to {
		m.To = append(m.To, a.Address)
		toHeader[i] = a.String()
	}

	var h headerWriter
	h.add("From", sender.String())
	if len(toHeader) > 0 {
		h.add("To", strings.Join(toHeader, ", "))
	}
	h.addText("Subject", m.Subject)
	h.add("Date", now.Format(time.RFC1123Z))
	h.add("Message-ID", m.MessageID)
	h.addText(FiringIDHeader, text.ClipRunes(f.ID, maxIDRunes))
	h.add("MIME-Version", "1.0")

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.SetBoundary(boundary(f.ID)); err != nil {
		return Message{}, fmt.Errorf("rendering the email: %w", err)
	}
	h.add("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	if err := writePart(mw, "text/plain", m.Text); err != nil {
		return Message{}, err
	}
	if err := writePart(mw, "text/html", m.HTML); err != nil {
		return Message{}, err
	}
	if err := mw.Close(); err != nil {
		return Message{}, fmt.Errorf("rendering the email: %w", err)
	}

	raw := make([]byte, 0, len(h.String())+2+body.Len())
	raw = append(raw, h.String()...)
	raw = append(raw, "\r\n"...)
	m.Raw = append(raw, body.Bytes()...)
	return m, nil
}

// parseRecipients parses the trigger's addresses, dropping duplicates.
func parseRecipients(emails []string) ([]*mail.Address, error) {
	var (
		to   []*mail.Address
		seen = map[string]bool{}
		errs []error
	)
	for _, e := range emails {
		a, err := mail.ParseAddress(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid email address %q: %w", cleanLine(e), err))
			continue
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			continue
		}
		seen[key] = true
		to = append(to, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return to, nil
}

// writePart writes one UTF-8, quoted-printable part of the alternative.
func writePart(mw *multipart.Writer, mediaType, body string) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", mediaType+"; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return fmt.Errorf("rendering the email: %w", err)
	}
	qw := quotedprintable.NewWriter(pw)
	if _, err := qw.Write([]byte(body)); err != nil {
		return fmt.Errorf("rendering the email: %w", err)
	}
	if err := qw.Close(); err != nil {
		return fmt.Errorf("rendering the email: %w", err)
	}
	return nil
}

// boundary derives the multipart boundary from the firing id, so that every
// attempt sends the same bytes. It starts with "=_", which quoted-printable
// bodies cannot contain.
func boundary(firingID string) string {
	sum := sha256.Sum256([]byte(firingID))
	return "=_mt_" + hex.EncodeToString(sum[:12])
}

// messageIDLocalPart returns the firing id as the local part of a
// Message-ID: letters, digits, '_', '-' and '+' as they are, every other
// byte as =XX (ids are "mtf_<hex>", so this changes nothing in practice).
// A result longer than maxIDLocalPart is replaced by "sha256-" and a hash
// of the id.
func messageIDLocalPart(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if isASCIIAlnum(c) || c == '_' || c == '-' || c == '+' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	if b.Len() > maxIDLocalPart {
		sum := sha256.Sum256([]byte(id))
		return "sha256-" + hex.EncodeToString(sum[:16])
	}
	return b.String()
}

func isASCIIAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// content is what a notification says, before it is laid out as text or
// HTML.
type content struct {
	subject   string
	preheader string
	test      bool
	message   string
	details   []detail
	metadata  []detail
	omitted   string // a note on metadata not shown, or ""
}

// detail is one line of the lead's details.
type detail struct {
	label, value string
}

func newContent(f ledger.Firing, def triggerset.Definition, test bool) content {
	name := firstNonEmpty(f.TriggerName, def.DisplayName, f.Trigger, def.Key.Name)
	lead := f.Event.LeadID
	dst := def.Destinations

	subject := strings.TrimSpace(cleanLine(dst.EmailSubject))
	if subject == "" {
		subject = fmt.Sprintf("Milestone reached: %s for lead %s", name, lead)
	}
	// One line, single spaces: folding and unfolding keep it as it is.
	subject = text.ClipRunes(strings.Join(strings.Fields(cleanLine(subject)), " "), maxSubjectRunes)
	if test {
		subject = testPrefix + subject
	}

	preheader := strings.TrimSpace(cleanLine(dst.EmailPreheader))
	if preheader == "" {
		preheader = fmt.Sprintf("Lead %s reached a score of %d, crossing the %d-point threshold of %s.", lead, f.Score, f.Threshold, name)
	}

	message := strings.TrimSpace(normalizeNewlines(strings.ToValidUTF8(dst.EmailMessage, "\uFFFD")))
	if message == "" {
		message = fmt.Sprintf("Lead %s reached the %s milestone: a score of %d, crossing the threshold of %d.", lead, name, f.Score, f.Threshold)
	}

	at := f.Event.CreatedAt
	if at.IsZero() {
		at = f.FiredAt
	}
	c := content{
		subject:   subject,
		preheader: text.ClipRunes(preheader, maxPreheaderRunes),
		test:      test,
		message:   text.ClipRunes(message, maxMessageRunes),
		details: []detail{
			{"Trigger", name},
			{"Lead ID", lead},
			{"Score", strconv.FormatInt(f.Score, 10)},
			{"Threshold", strconv.FormatInt(f.Threshold, 10)},
			{"Event type", f.Event.EventType},
			{"Event ID", f.Event.ID},
			{"Time", at.UTC().Format(time.RFC3339)},
		},
	}
	fields, omitted := metadataFields(f.Event.Metadata)
	for _, fd := range fields {
		c.metadata = append(c.metadata, detail{fd.key, fd.value})
	}
	c.omitted = omitted
	for _, ds := range [][]detail{c.details, c.metadata} {
		for i := range ds {
			ds[i].label = text.ClipRunes(cleanLine(ds[i].label), maxMetadataKey)
			ds[i].value = text.ClipRunes(cleanLine(ds[i].value), maxDetailRunes)
		}
	}
	return c
}

// testNote opens a test notification.
const testNote = "This is a test notification: no lead reached this milestone."

// text lays the content out as plain text: the message, then the details.
func (c content) text() string {
	var b strings.Builder
	if c.test {
		b.WriteString(testNote + "\n\n")
	}
	b.WriteString(c.message)
	b.WriteString("\n\nLead details\n\n")
	for _, d := range c.details {
		b.WriteString(d.label + ": " + d.value + "\n")
	}
	if len(c.metadata) > 0 || c.omitted != "" {
		b.WriteString("\nMetadata\n\n")
	}
	for _, d := range c.metadata {
		b.WriteString(d.label + ": " + d.value + "\n")
	}
	if c.omitted != "" {
		b.WriteString(c.omitted + "\n")
	}
	return b.String()
}

// html lays the content out as an HTML document: the hidden preheader
// first in the body, then the message, then the details, all escaped.
func (c content) html() string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	b.WriteString("<title>" + html.EscapeString(c.subject) + "</title>\n</head>\n<body>\n")
	b.WriteString(`<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">`)
	b.WriteString(html.EscapeString(c.preheader))
	b.WriteString("</div>\n")
	if c.test {
		b.WriteString("<p><strong>" + html.EscapeString(testNote) + "</strong></p>\n")
	}
	b.WriteString("<p>")
	b.WriteString(strings.ReplaceAll(html.EscapeString(c.message), "\n", "<br>\n"))
	b.WriteString("</p>\n<h3>Lead details</h3>\n")
	writeHTMLTable(&b, c.details)
	if len(c.metadata) > 0 || c.omitted != "" {
		b.WriteString("<h3>Metadata</h3>\n")
	}
	if len(c.metadata) > 0 {
		writeHTMLTable(&b, c.metadata)
	}
	if c.omitted != "" {
		b.WriteString("<p>" + html.EscapeString(c.omitted) + "</p>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

// writeHTMLTable writes the details as a two-column table, escaped.
func writeHTMLTable(b *strings.Builder, ds []detail) {
	b.WriteString("<table>\n")
	for _, d := range ds {
		b.WriteString("<tr><th align=\"left\">" + html.EscapeString(d.label) + "</th><td>" + html.EscapeString(d.value) + "</td></tr>\n")
	}
	b.WriteString("</table>\n")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// normalizeNewlines turns CRLF and lone CR into LF.
func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
