//go:build k8s

package k8s

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func job(name, runtimeClass string, args ...string) string {
	a, _ := json.Marshal(args)
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: %s}
spec:
  backoffLimit: 0
  template:
    spec:
      runtimeClassName: %s
      restartPolicy: Never
      containers:
        - name: main
          image: %s
          imagePullPolicy: Never
          args: %s
`, name, runtimeClass, demoImage, a)
}

// jobCondition waits until Job name has condition Complete or Failed and
// returns which.
func jobCondition(t *testing.T, ns, name string) batchv1.JobConditionType {
	t.Helper()
	var got batchv1.JobConditionType
	eventually(t, 2*time.Minute, "job "+name+" finished", func() (bool, string) {
		var j batchv1.Job
		getJSON(t, &j, "-n", ns, "job", name)
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				got = c.Type
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", j.Status)
	})
	return got
}

// TestJob: a module exiting 0 completes its Job; one exiting 3 fails it,
// and its pod shows exit code 3.
func TestJob(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		apply(t, ns, job("ok", rc, "exit", "0"))
		apply(t, ns, job("three", rc, "exit", "3"))
		if c := jobCondition(t, ns, "ok"); c != batchv1.JobComplete {
			t.Errorf("job ok: %s, want Complete", c)
		}
		if c := jobCondition(t, ns, "three"); c != batchv1.JobFailed {
			t.Errorf("job three: %s, want Failed", c)
		}
		ps := pods(t, ns, "job-name=three")
		if len(ps) != 1 || len(ps[0].Status.ContainerStatuses) != 1 {
			t.Fatalf("job three's pods: %s", podSummary(ps))
		}
		st := ps[0].Status.ContainerStatuses[0].State.Terminated
		if ps[0].Status.Phase != corev1.PodFailed || st == nil || st.ExitCode != 3 || st.Reason != "Error" {
			t.Errorf("job three's pod: %s; want Failed, terminated Error exit 3", podSummary(ps))
		}
		ps = pods(t, ns, "job-name=ok")
		if len(ps) != 1 || ps[0].Status.Phase != corev1.PodSucceeded {
			t.Errorf("job ok's pods: %s; want one Succeeded", podSummary(ps))
		}
	})
}
