// Package v1alpha1 contains the MilestoneTrigger API of the triggers.leadvibe.io group.
//
// +kubebuilder:object:generate=true
// +groupName=triggers.leadvibe.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "triggers.leadvibe.io", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this group and version to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers MilestoneTrigger and its list under GroupVersion.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &MilestoneTrigger{}, &MilestoneTriggerList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
