package restapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// ResendSubresource is what a re-send is authorized on: the verb "create"
// on milestonetriggers/resend for the trigger. The milestonetrigger-editor
// ClusterRole grants it.
const ResendSubresource = "resend"

// resendResponse is the 202 answer of a re-send.
type resendResponse struct {
	FiringID  string `json:"firing_id"`
	TriggerID string `json:"trigger_id"`
	Status    string `json:"status"`
}

// ResendRoute serves POST /triggers/{id}/events/{firing_id}/resend: the
// dead-lettered deliveries of one firing of the trigger start over on the
// retry schedule, with the same webhook-id; channels that delivered are not
// sent again. It validates and queues a command for the dispatcher (see
// notify.Resend), writing no delivery state. 202 once queued, and again
// while that re-send is queued (the same command, queued once); 404 for a
// firing the trigger does not have; 409 when none of its deliveries is
// dead-lettered, a re-send carried out or under way included, and nothing
// is sent.
func ResendRoute(streams *stream.Streams) Route {
	return Route{
		Pattern:     "POST /triggers/{id}/events/{firing_id}/resend",
		Verb:        "create",
		Subresource: ResendSubresource,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, _ := CallerFrom(r.Context())
			id, firingID := r.PathValue("id"), r.PathValue("firing_id")
			notFiring := newError(http.StatusNotFound, fmt.Sprintf("firing %q of trigger %q not found in OU %q", firingID, id, caller.OU))
			if !validID(id) || !ledger.IsFiringID(firingID) {
				WriteError(w, notFiring)
				return
			}
			err := notify.Resend(r.Context(), streams, caller.OU, id, firingID)
			switch {
			case errors.Is(err, notify.ErrFiringNotFound):
				WriteError(w, notFiring)
			case errors.Is(err, notify.ErrNotDeadLettered):
				WriteError(w, newError(http.StatusConflict, fmt.Sprintf("firing %q has no dead-lettered delivery to re-send", firingID)))
			case stream.IsFull(err):
				e := newError(http.StatusInsufficientStorage, "the re-send queue is full (the operator's --stream-max-bytes resends limit); retry once it has drained")
				e.retryAfter, e.cause = 60, err
				WriteError(w, e)
			case err != nil:
				WriteError(w, internalError(err))
			default:
				WriteJSON(w, http.StatusAccepted, resendResponse{FiringID: firingID, TriggerID: id, Status: "queued"})
			}
		}),
	}
}
