package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/chat"
	"github.com/leadvibe/milestone-triggers-operator/internal/text"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Limits of Slack's Block Kit that the message keeps to.
const (
	maxHeaderRunes = 150 // a header block's plain text
	maxFieldRunes  = 300 // our own bound on one field's value, well under Slack's 2000
	// TestPrefix marks a test notification.
	TestPrefix = "[TEST] "
)

// message is a Slack incoming-webhook message.
type message struct {
	Text   string  `json:"text"`
	Blocks []block `json:"blocks"`
}

// block is a Block Kit layout block: header, section or context.
type block struct {
	Type     string       `json:"type"`
	Text     *textObject  `json:"text,omitempty"`
	Fields   []textObject `json:"fields,omitempty"`
	Elements []textObject `json:"elements,omitempty"`
}

// textObject is a Block Kit text object, plain_text or mrkdwn.
type textObject struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

func mrkdwn(s string) textObject { return textObject{Type: "mrkdwn", Text: s} }

// field is a section field: a bold label over an escaped value.
func field(label, value string) textObject {
	return mrkdwn("*" + label + "*\n" + escape(text.ClipRunes(value, maxFieldRunes)))
}

// Message returns the Slack incoming-webhook message for a firing of def:
// a text fallback for notifications, and blocks: a header with the
// trigger's display name; a section with the lead, score, event type, time
// and threshold; a section with up to ten of the event's metadata fields;
// and a context line with the event and firing ids. User-supplied text is
// escaped for mrkdwn. A test message is marked "[TEST] ".
func Message(f ledger.Firing, def triggerset.Definition, test bool) ([]byte, error) {
	name := def.DisplayName
	if name == "" {
		name = f.TriggerName
	}
	if name == "" {
		name = f.Trigger
	}
	prefix := ""
	if test {
		prefix = TestPrefix
	}
	score := strconv.FormatInt(f.Score, 10)
	threshold := strconv.FormatInt(f.Threshold, 10)

	m := message{
		Text: prefix + escape(fmt.Sprintf("%s: lead %s reached a score of %s (threshold %s) on %s",
			text.ClipRunes(name, maxHeaderRunes), text.ClipRunes(f.Event.LeadID, maxFieldRunes), score, threshold,
			text.ClipRunes(f.Event.EventType, maxFieldRunes))),
		Blocks: []block{
			{Type: "header", Text: &textObject{Type: "plain_text", Text: text.ClipRunes(prefix+name, maxHeaderRunes), Emoji: true}},
			{Type: "section", Fields: []textObject{
				field("Lead", f.Event.LeadID),
				field("Score", score),
				field("Event type", f.Event.EventType),
				field("Time", f.Event.CreatedAt.UTC().Format(time.RFC3339)),
				field("Threshold", threshold),
			}},
		},
	}
	if b, ok := metadataBlock(f.Event.Metadata); ok {
		m.Blocks = append(m.Blocks, b)
	}
	m.Blocks = append(m.Blocks, block{Type: "context", Elements: []textObject{
		mrkdwn("Event " + escape(text.ClipRunes(f.Event.ID, maxFieldRunes)) + " · Firing " + escape(f.ID)),
	}})

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encoding the Slack message of firing %s: %w", f.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// metadataBlock returns a section showing the event's metadata, or false
// when it has none.
func metadataBlock(raw json.RawMessage) (block, bool) {
	fields, total := chat.Fields(raw)
	if len(fields) == 0 {
		return block{}, false
	}
	title := "*Metadata*"
	if total > len(fields) {
		title = fmt.Sprintf("*Metadata* (%d of %d fields)", len(fields), total)
	}
	b := block{Type: "section", Text: &textObject{Type: "mrkdwn", Text: title}}
	for _, mf := range fields {
		b.Fields = append(b.Fields, mrkdwn("*"+escape(mf.Key)+"*\n"+escape(mf.Value)))
	}
	return b, true
}
