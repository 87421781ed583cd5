// Package status is the daemon's "what do you run" answer: a small gRPC
// service on the controller socket, next to the Sandbox Controller API,
// and the client `wasm-sandboxer status` uses. The report travels as JSON
// in a BytesValue: one Go type is the schema, no generated code.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Service and method names of the status API.
const (
	Service   = "wasm_sandboxer.status.v1.Status"
	getMethod = "Get"
)

// Report is what the daemon runs.
type Report struct {
	Version  string    `json:"version"`
	Pid      int       `json:"pid"`
	Started  time.Time `json:"started"`
	StateDir string    `json:"stateDir"`
	// Forked says whether the forked runtime is on (a worker binary).
	Forked         bool   `json:"forked"`
	MetricsAddress string `json:"metricsAddress,omitempty"`
	// PodServers is the number of pod servers the daemon is attached to.
	PodServers   int          `json:"podServers"`
	CompileCache CompileCache `json:"compileCache"`
	Sandboxes    []Sandbox    `json:"sandboxes"`
}

// CompileCache is the on-disk compiled-code cache.
type CompileCache struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// Sandbox is one pod.
type Sandbox struct {
	ID        string    `json:"id"`
	Namespace string    `json:"namespace,omitempty"`
	Mode      string    `json:"mode"`
	Phase     string    `json:"phase"`
	Tasks     int       `json:"tasks"` // -1: unknown
	TasksErr  string    `json:"tasksError,omitempty"`
	Created   time.Time `json:"created"`
	Address   string    `json:"address,omitempty"`
}

// Register serves report on srv.
func Register(srv *grpc.Server, report func(ctx context.Context) (Report, error)) {
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: Service,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: getMethod, Handler: func(_ any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(&emptypb.Empty{}); err != nil {
				return nil, err
			}
			get := func(ctx context.Context, _ any) (any, error) {
				r, err := report(ctx)
				if err != nil {
					return nil, err
				}
				b, err := json.Marshal(r)
				if err != nil {
					return nil, err
				}
				return wrapperspb.Bytes(b), nil
			}
			if in == nil {
				return get(ctx, nil)
			}
			return in(ctx, &emptypb.Empty{}, &grpc.UnaryServerInfo{FullMethod: "/" + Service + "/" + getMethod}, get)
		}}},
	}, struct{}{})
}

// Fetch asks the daemon serving socket for its report.
func Fetch(ctx context.Context, socket string) (Report, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return Report{}, err
	}
	defer conn.Close()
	var b wrapperspb.BytesValue
	if err := conn.Invoke(ctx, "/"+Service+"/"+getMethod, &emptypb.Empty{}, &b); err != nil {
		return Report{}, fmt.Errorf("wasm-sandboxer on %s: %w", socket, err)
	}
	var r Report
	if err := json.Unmarshal(b.Value, &r); err != nil {
		return Report{}, fmt.Errorf("status report: %w", err)
	}
	return r, nil
}

// Print writes r for people: the daemon, then a table of sandboxes.
func Print(w io.Writer, r Report, now time.Time) error {
	forked := "off (no worker binary)"
	if r.Forked {
		forked = fmt.Sprintf("on, %d pod servers", r.PodServers)
	}
	metrics := "off"
	if r.MetricsAddress != "" {
		metrics = "http://" + r.MetricsAddress + "/metrics"
	}
	fmt.Fprintf(w, "wasm-sandboxer %s, pid %d, up %s\n", r.Version, r.Pid, now.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(w, "state dir:      %s\n", r.StateDir)
	fmt.Fprintf(w, "forked runtime: %s\n", forked)
	fmt.Fprintf(w, "compile cache:  %d modules, %d bytes\n", r.CompileCache.Entries, r.CompileCache.Bytes)
	fmt.Fprintf(w, "metrics:        %s\n", metrics)
	fmt.Fprintf(w, "sandboxes:      %d\n", len(r.Sandboxes))
	if len(r.Sandboxes) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSANDBOX\tNAMESPACE\tMODE\tPHASE\tTASKS\tAGE")
	for _, s := range r.Sandboxes {
		tasks := fmt.Sprint(s.Tasks)
		if s.Tasks < 0 {
			tasks = "?"
		}
		id := s.ID
		if len(id) > 13 && !strings.ContainsAny(id, "-_.") {
			id = id[:13] // a CRI sandbox id is 64 hex characters, as crictl shortens it
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id, s.Namespace, s.Mode, s.Phase, tasks, now.Sub(s.Created).Round(time.Second))
	}
	return tw.Flush()
}
