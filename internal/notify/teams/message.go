package teams

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

// Adaptive Card constants of the message.
const (
	// AttachmentContentType is the content type of an Adaptive Card
	// attachment.
	AttachmentContentType = "application/vnd.microsoft.card.adaptive"
	// CardSchema and CardVersion are the card's $schema and version.
	CardSchema  = "http://adaptivecards.io/schemas/adaptive-card.json"
	CardVersion = "1.4"
	// TestPrefix marks a test notification.
	TestPrefix = "[TEST] "

	maxTitleRunes = 150
	maxFactRunes  = 300
)

// message is a Teams Workflows webhook message carrying one card.
type message struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"` // always null
	Content     card    `json:"content"`
}

type card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Body    []element `json:"body"`
}

// element is a card element: a TextBlock or a FactSet.
type element struct {
	Type    string `json:"type"`
	Text    string `json:"text,omitempty"`
	Weight  string `json:"weight,omitempty"`
	Size    string `json:"size,omitempty"`
	Wrap    bool   `json:"wrap,omitempty"`
	Spacing string `json:"spacing,omitempty"`
	Facts   []fact `json:"facts,omitempty"`
}

type fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

func textBlock(content, size string) element {
	return element{Type: "TextBlock", Text: content, Weight: "Bolder", Size: size, Wrap: true}
}

// Message returns the Teams Workflows webhook message for a firing of def:
// an Adaptive Card with the trigger's display name as its title, a FactSet
// of the lead, score, event type, time, threshold and event id, and a
// FactSet of up to ten of the event's metadata fields. A test message's
// title is marked "[TEST] ".
func Message(f ledger.Firing, def triggerset.Definition, test bool) ([]byte, error) {
	name := def.DisplayName
	if name == "" {
		name = f.TriggerName
	}
	if name == "" {
		name = f.Trigger
	}
	if test {
		name = TestPrefix + name
	}
	body := []element{
		textBlock(text.ClipRunes(name, maxTitleRunes), "Medium"),
		{Type: "FactSet", Facts: []fact{
			{Title: "Lead", Value: text.ClipRunes(f.Event.LeadID, maxFactRunes)},
			{Title: "Score", Value: strconv.FormatInt(f.Score, 10)},
			{Title: "Event type", Value: text.ClipRunes(f.Event.EventType, maxFactRunes)},
			{Title: "Time", Value: f.Event.CreatedAt.UTC().Format(time.RFC3339)},
			{Title: "Threshold", Value: strconv.FormatInt(f.Threshold, 10)},
			{Title: "Event id", Value: text.ClipRunes(f.Event.ID, maxFactRunes)},
		}},
	}
	if fields, total := chat.Fields(f.Event.Metadata); len(fields) > 0 {
		title := "Metadata"
		if total > len(fields) {
			title = fmt.Sprintf("Metadata (%d of %d fields)", len(fields), total)
		}
		facts := make([]fact, len(fields))
		for i, mf := range fields {
			facts[i] = fact{Title: mf.Key, Value: mf.Value}
		}
		body = append(body, textBlock(title, "Default"), element{Type: "FactSet", Facts: facts})
	}
	m := message{
		Type: "message",
		Attachments: []attachment{{
			ContentType: AttachmentContentType,
			Content:     card{Schema: CardSchema, Type: "AdaptiveCard", Version: CardVersion, Body: body},
		}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encoding the Teams message of firing %s: %w", f.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
