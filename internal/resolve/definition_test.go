package resolve

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// A trigger without Secret references reads nothing, so these need no
// API server.
func TestDefinitionCarriesRearmBelowAndCooldown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rearm    *int64
		cooldown *metav1.Duration
		want     *int64
		wantCool time.Duration
	}{
		{name: "neither"},
		{name: "rearmBelow", rearm: ptr.To[int64](60), want: ptr.To[int64](60)},
		{name: "negative rearmBelow", rearm: ptr.To[int64](-5), want: ptr.To[int64](-5)},
		{name: "cooldown", cooldown: &metav1.Duration{Duration: 30 * time.Minute}, wantCool: 30 * time.Minute},
		{name: "both", rearm: ptr.To[int64](0), cooldown: &metav1.Duration{Duration: 2160 * time.Hour}, want: ptr.To[int64](0), wantCool: 2160 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := &triggersv1alpha1.MilestoneTrigger{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ou", Name: "t", UID: "u"},
				Spec: triggersv1alpha1.MilestoneTriggerSpec{
					DisplayName: "T", ScoreThreshold: ptr.To[int64](75),
					RearmBelow: tc.rearm, Cooldown: tc.cooldown,
				},
			}
			d, err := Resolver{}.Definition(context.Background(), mt)
			if err != nil {
				t.Fatal(err)
			}
			if !ptr.Equal(d.RearmBelow, tc.want) || d.Cooldown != tc.wantCool || d.Threshold != 75 {
				t.Fatalf("definition: threshold %d, rearmBelow %v, cooldown %v; want 75, %v, %v", d.Threshold, d.RearmBelow, d.Cooldown, tc.want, tc.wantCool)
			}
			if tc.rearm != nil {
				*tc.rearm = 1
				if *d.RearmBelow == 1 {
					t.Fatal("the definition shares rearmBelow with the resource")
				}
			}
		})
	}
}
