package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// createWorkers is how many triggers are created at once.
const createWorkers = 16

// createTriggers creates n realistic triggers in ou, concurrently, each
// with the status the operator would have written by now: accepted, and
// for some a count of firings and the last one.
func createTriggers(ctx context.Context, c client.Client, ou string, n int) error {
	rng := rand.New(rand.NewPCG(7, 11))
	specs := make([]triggersv1alpha1.MilestoneTriggerSpec, n)
	fired := make([]int64, n)
	for i := range specs {
		specs[i] = triggerSpec(rng, i)
		if rng.IntN(3) == 0 {
			fired[i] = 1 + rng.Int64N(400)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	for range min(createWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := createTrigger(ctx, c, ou, specs[i], fired[i], i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func createTrigger(ctx context.Context, c client.Client, ou string, spec triggersv1alpha1.MilestoneTriggerSpec, fired int64, i int) error {
	mt := &triggersv1alpha1.MilestoneTrigger{
		ObjectMeta: metav1.ObjectMeta{Namespace: ou, GenerateName: "trigger-"},
		Spec:       spec,
	}
	if err := c.Create(ctx, mt); err != nil {
		return fmt.Errorf("creating trigger %d: %w", i, err)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	st := &mt.Status
	st.ObservedGeneration = mt.Generation
	reason, message := triggersv1alpha1.ReasonAccepted, "The trigger is evaluated on every event of its OU"
	if !mt.IsActive() {
		reason, message = triggersv1alpha1.ReasonInactive, "The trigger is inactive: it neither fires nor keeps pending crossings"
	} else {
		st.ArmedGeneration = mt.Generation
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               triggersv1alpha1.ReadyCondition,
		Status:             metav1.ConditionTrue,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: mt.Generation,
		LastTransitionTime: now,
	})
	if fired > 0 {
		st.FiredCount = fired
		st.FiringSequence = fired * 3
		st.LastFiredTime = &now
		st.LastFiring = &triggersv1alpha1.FiringSummary{
			LeadID:    fmt.Sprintf("ld_%06d", i*37%100000),
			EventID:   fmt.Sprintf("evt-%08x", i*2654435761%(1<<32)),
			EventType: spec.EventType,
			Score:     *spec.ScoreThreshold + int64(i%7),
			FiringID:  fmt.Sprintf("fir_%016x", uint64(i)*0x9e3779b97f4a7c15),
		}
	}
	if err := c.Status().Update(ctx, mt); err != nil {
		return fmt.Errorf("writing the status of trigger %s: %w", mt.Name, err)
	}
	return nil
}

var (
	displayNames = []string{
		"Hot Lead Alert", "Enterprise Demo Follow-up", "MQL Handoff to Sales",
		"Pricing Page Surge", "Webinar Attendee Nurture", "Trial Power User",
		"Re-engaged Cold Lead", "Partner Referral Fast Track",
	}
	eventTypes = []string{"demo_request", "form_submit", "page_view", "webinar_signup", "trial_started"}
	teams      = []string{"sales", "sdr", "marketing", "partners", "success"}
)

// triggerSpec makes the i-th trigger: a display name, a threshold, an event
// type on about half, a webhook on most, two emails, a subject on some, and
// one in twenty inactive.
func triggerSpec(rng *rand.Rand, i int) triggersv1alpha1.MilestoneTriggerSpec {
	team := teams[rng.IntN(len(teams))]
	threshold := int64(25 + 5*rng.IntN(36))
	s := triggersv1alpha1.MilestoneTriggerSpec{
		DisplayName:    fmt.Sprintf("%s %d", displayNames[rng.IntN(len(displayNames))], i+1),
		ScoreThreshold: &threshold,
		Emails: []triggersv1alpha1.EmailAddress{
			triggersv1alpha1.EmailAddress(team + "@example.com"),
			triggersv1alpha1.EmailAddress(fmt.Sprintf("owner-%d@example.com", rng.IntN(200))),
		},
	}
	if rng.IntN(2) == 0 {
		s.EventType = eventTypes[rng.IntN(len(eventTypes))]
	}
	if rng.IntN(10) < 8 {
		u := triggersv1alpha1.HTTPURL(fmt.Sprintf("https://hooks.example.com/leadvibe/%s/%d", team, rng.IntN(1000)))
		s.WebhookURL = &u
	}
	if rng.IntN(3) == 0 {
		s.EmailSubject = fmt.Sprintf("%s: a lead crossed %d points", s.DisplayName, threshold)
		s.EmailMessage = "A lead just crossed the threshold. Reach out within the hour."
	}
	if rng.IntN(20) == 0 {
		inactive := false
		s.Active = &inactive
	}
	return s
}
