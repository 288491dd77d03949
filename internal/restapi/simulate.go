package restapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/resolve"
	"github.com/leadvibe/milestone-triggers-operator/internal/simulate"
)

// SimulateSubresource is what a simulation is authorized on: the verb
// "create" on milestonetriggers/simulate for the trigger. The
// milestonetrigger-editor ClusterRole grants it, since a simulation can
// send test notifications.
const SimulateSubresource = "simulate"

// maxSimulateBytes bounds a simulate request: one event and a few fields.
const maxSimulateBytes = event.MaxEventBytes + 4<<10

// SimulateRoute serves POST /triggers/{id}/simulate: it evaluates the
// request's event against the trigger, active or not, with the real
// evaluator, and answers 200 with whether it would fire, the SPEC rule that
// decides, the lead state it started from, and every notification rendered
// exactly; test notifications are sent only when the request asks. A
// request without a previous_score starts from the lead's stored state in
// the trigger's OU, the caller's, read by cfg.Leads. cache reads the
// trigger (the informer cache); resolver reads the Secrets it references,
// straight from the API server, as the controller does (same Secret label
// check). 409 when a referenced Secret is missing, invalid or not
// referenceable.
//
// What is made with a referenced Secret is shown only to a caller that
// secretAccess allows to get that Secret: otherwise the webhook signature
// and any destination held in a Secret are redacted (the answer says so),
// and send_test_notifications is refused with 403.
func SimulateRoute(cache client.Reader, resolver resolve.Resolver, secretAccess SecretAccess, cfg simulate.Config) Route {
	return Route{
		Pattern:     "POST /triggers/{id}/simulate",
		Verb:        "create",
		Subresource: SimulateSubresource,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, _ := CallerFrom(r.Context())
			if err := serveSimulate(w, r, caller, cache, resolver, secretAccess, cfg); err != nil {
				WriteError(w, err)
			}
		}),
	}
}

func serveSimulate(w http.ResponseWriter, r *http.Request, caller Caller, cache client.Reader, resolver resolve.Resolver, secretAccess SecretAccess, cfg simulate.Config) error {
	ctx := r.Context()
	ou := caller.OU
	id := r.PathValue("id")
	if !validID(id) {
		return notFound(ou, id)
	}
	body, err := readBody(w, r, maxSimulateBytes, mediaJSON)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	req, err := decodeSimulateRequest(body, now)
	if err != nil {
		return err
	}
	mt, err := readTrigger(ctx, cache, ou, id)
	if err != nil {
		return err
	}
	def, err := resolver.Definition(ctx, mt)
	var config *resolve.ConfigError
	switch {
	case errors.As(err, &config):
		return newError(http.StatusConflict, "trigger "+id+" cannot be simulated until its configuration is fixed: "+config.Message)
	case err != nil:
		return internalError(err)
	}
	hidden, err := hiddenSecrets(ctx, secretAccess, caller, &mt.Spec)
	if err != nil {
		return internalError(err)
	}
	if len(hidden) > 0 && req.SendTestNotifications {
		return refuseTestSends(caller, hidden)
	}
	res, err := simulate.Run(ctx, cfg, def, req, now)
	var input *simulate.InputError
	switch {
	case errors.As(err, &input):
		return invalid("invalid simulation", []FieldError{{Field: input.Field, Message: input.Message}})
	case err != nil:
		return internalError(err)
	}
	redactHidden(&res, hidden)
	WriteJSON(w, http.StatusOK, res)
	return nil
}

// decodeSimulateRequest decodes {"event": {...}, "previous_score": n,
// "pending_crossing": b, "send_test_notifications": b} strictly. The event
// is decoded by the stream's own codec from its exact bytes, so that its
// metadata is what a published event would carry; its problems are named
// "event.<field>".
func decodeSimulateRequest(body []byte, now time.Time) (simulate.Request, error) {
	tree, err := parseJSON(body)
	if err != nil {
		return simulate.Request{}, err
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return simulate.Request{}, invalid("invalid simulation", []FieldError{{Field: "body", Message: "must be a JSON object"}})
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return simulate.Request{}, newError(http.StatusBadRequest, "request body is not valid JSON")
	}
	var req simulate.Request
	d := &fieldDecoder{}
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		switch k {
		case "event":
			if _, ok := d.object(k, v); !ok {
				if v == nil {
					d.fail(k, "required")
				}
				continue
			}
			ev, err := event.DecodeEvent(raw[k], now)
			var de *event.DecodeError
			switch {
			case errors.As(err, &de):
				for _, fe := range de.Errors {
					field := "event"
					if fe.Field != "" {
						field += "." + fe.Field
					}
					d.fail(field, fe.Message)
				}
			case err != nil:
				d.fail(k, err.Error())
			}
			req.Event = ev
		case "previous_score":
			if n, ok := d.integer(k, v); ok {
				if n > event.MaxScore || n < -event.MaxScore {
					d.fail(k, "must be an integer between -1000000000000000 and 1000000000000000, as event scores are")
					continue
				}
				req.PreviousScore = &n
			}
		case "pending_crossing":
			req.PendingCrossing = derefBool(d.boolean(k, v))
		case "send_test_notifications":
			req.SendTestNotifications = derefBool(d.boolean(k, v))
		default:
			d.fail(k, "unknown field")
		}
	}
	if _, ok := obj["event"]; !ok {
		d.fail("event", "required")
	}
	if len(d.errs) > 0 {
		return simulate.Request{}, invalid("invalid simulation", d.errs)
	}
	return req, nil
}

func derefBool(b *bool) bool { return b != nil && *b }
